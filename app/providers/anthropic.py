"""Anthropic Messages API over httpx, with API keys or Claude OAuth access tokens."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.providers.base import ChatRequest, ChatResult, StreamEvent, Usage
from app.providers.client import ProviderClient
from app.providers.errors import error_from_event, error_from_response
from app.providers.estimate import Delivered
from app.providers.forwarding import merged_beta
from app.providers.payloads import merge_extra, native_payload, split_system
from app.providers.streaming import EventParser, event_json

API_VERSION = "2023-06-01"
OAUTH_BETA = "oauth-2025-04-20"
DEFAULT_MAX_TOKENS = 1024

# Anthropic's usage field names, mapped onto our disjoint buckets (theirs are disjoint too).
_USAGE_FIELDS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
}


class AnthropicClient(ProviderClient):
    default_base_url = "https://api.anthropic.com"

    def url(self, request: ChatRequest, *, stream: bool) -> str:
        return f"{self.base_url}/v1/messages"

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.account.access_token:
            headers["Authorization"] = f"Bearer {self.account.access_token}"
            headers["anthropic-beta"] = OAUTH_BETA
        else:
            headers["x-api-key"] = self.account.api_key or ""
        return headers

    def request_headers(self, request: ChatRequest) -> dict[str, str]:
        """The client's anthropic-version and beta flags win (OAuth's flag is kept beside)."""
        headers = super().request_headers(request)
        for name in ("anthropic-version", "anthropic-beta"):
            if request.headers.get(name):
                headers[name] = request.headers[name]
        if self.account.access_token:
            headers["anthropic-beta"] = merged_beta(request.headers.get("anthropic-beta"),
                                                    OAUTH_BETA)
        return headers

    def count_tokens(self, request: ChatRequest) -> dict[str, Any]:
        """The account's own count of `request.native`'s prompt (POST /v1/messages/count_tokens)."""
        body = {**(request.native or {}), "model": request.model}
        body.pop("stream", None)
        response = self._post(f"{self.base_url}/v1/messages/count_tokens", body,
                              self.request_headers(request), stream=False)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("input_tokens"), int):
            raise error_from_response(response, response.text)
        return answer

    def payload(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        if request.native is not None:
            return native_payload(request, stream=stream)
        # Anthropic rejects system-role turns; the system prompt lives beside the messages.
        system, turns = split_system(request)
        payload: dict[str, Any] = {
            "model": request.model,
            "messages": turns,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "stream": stream,
        }
        if system:
            payload["system"] = system
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        return merge_extra(payload, request.extra)

    def parse_result(self, raw: dict[str, Any]) -> ChatResult:
        blocks = raw.get("content") or []
        text = "".join(block.get("text", "") for block in blocks if block.get("type") == "text")
        delivered = Delivered()
        for block in blocks:
            add_block(delivered, block)
        return ChatResult(text=text, usage=merge_usage(Usage(), raw.get("usage")), raw=raw,
                          usage_final=bool(raw.get("usage")), delivered_chars=delivered.chars)

    def new_event_parser(self) -> AnthropicEventParser:
        return AnthropicEventParser()


class AnthropicEventParser(EventParser):
    """Messages events: message_start's output count is provisional (1); only message_delta's
    is final."""

    def parse(self, event: str | None, data: str) -> StreamEvent:
        body = event_json(data)
        kind = body.get("type") or event
        text, usage_block = "", None
        if kind == "error":
            raise error_from_event(body)
        if kind == "message_start":
            usage_block = (body.get("message") or {}).get("usage")
        elif kind == "message_delta":
            # Counts here are cumulative, so they replace what message_start said.
            usage_block = body.get("usage")
        elif kind == "content_block_start":
            add_block(self.delivered, body.get("content_block") or {})
        elif kind == "content_block_delta":
            delta = body.get("delta") or {}
            if delta.get("type") == "text_delta":
                text = delta.get("text", "")
            self.delivered.add_text(delta.get("text"))
            self.delivered.add_text(delta.get("thinking"))
            self.delivered.add_json(delta.get("partial_json"))
        elif kind == "message_stop":
            self.finished = True
        usage = None
        if usage_block:
            usage = self.counted(merge_usage(self.usage, usage_block),
                                 final=self.usage_final or kind == "message_delta")
        return StreamEvent(data=data, event=event, text=text, usage=usage, body=body)


def add_block(delivered: Delivered, block: dict[str, Any]) -> None:
    """A content block's text, thinking, or tool name and input (empty when streamed)."""
    delivered.add_text(block.get("text"))
    delivered.add_text(block.get("thinking"))
    if block.get("type") in ("tool_use", "server_tool_use"):
        delivered.add_text(block.get("name"))
        if block.get("input"):
            delivered.add_json(block["input"])


def merge_usage(usage: Usage, block: dict[str, Any] | None) -> Usage:
    """`usage` updated with the fields this block reports; absent fields keep their value.

    `cache_creation` splits the cache write by lifetime; its 1-hour part is kept apart (it
    is priced apart), the 5-minute part stays in cache_write_tokens with it.
    """
    updates = {
        ours: block[theirs]
        for theirs, ours in _USAGE_FIELDS.items()
        if block and isinstance(block.get(theirs), int)
    }
    split = (block or {}).get("cache_creation")
    if isinstance(split, dict):
        one_hour = split.get("ephemeral_1h_input_tokens")
        if isinstance(one_hour, int):
            updates["cache_write_1h_tokens"] = one_hour
        if "cache_write_tokens" not in updates:
            updates["cache_write_tokens"] = sum(
                value for value in split.values() if isinstance(value, int))
    return replace(usage, **updates)


# Anthropic's error type for each HTTP status, as its SDKs and Claude Code read them.
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 413: "invalid_request_error",
                422: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}


def error_type(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error object, as an answer body or an `error` event's data."""
    return {"type": "error", "error": {"type": error_type(status), "message": message}}

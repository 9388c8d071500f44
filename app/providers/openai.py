"""OpenAI chat completions (and compatible upstreams) over httpx."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.providers.base import ChatRequest, ChatResult, StreamEvent, Usage
from app.providers.client import ProviderClient
from app.providers.errors import error_from_event
from app.providers.estimate import Delivered
from app.providers.payloads import merge_extra, native_payload
from app.providers.responses_api import ResponsesEventParser, responses_result
from app.providers.streaming import EventParser, event_json


class OpenAIClient(ProviderClient):
    """Chat completions; a Responses API body (`request.responses`) goes to `/responses` as
    sent when the account serves that API (its `supports_responses`)."""

    # Like the OpenAI SDK, the base URL already ends in the API version.
    default_base_url = "https://api.openai.com/v1"

    def speaks_responses(self, request: ChatRequest) -> bool:
        return request.responses is not None and self.account.supports_responses

    def url(self, request: ChatRequest, *, stream: bool) -> str:
        if self.speaks_responses(request):
            return f"{self.base_url}/responses"
        return f"{self.base_url}/chat/completions"

    def result_for(self, request: ChatRequest, raw: dict[str, Any]) -> ChatResult:
        if self.speaks_responses(request):
            return responses_result(raw)
        return self.parse_result(raw)

    def event_parser_for(self, request: ChatRequest) -> EventParser:
        if self.speaks_responses(request):
            return ResponsesEventParser()
        return self.new_event_parser()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.account.access_token or self.account.api_key}"}

    def payload(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any]
        if self.speaks_responses(request):
            return native_payload(replace(request, native=request.responses), stream=stream)
        if request.native is not None:
            payload = native_payload(request, stream=stream)
            if stream:
                options = payload.get("stream_options")
                options = options if isinstance(options, dict) else {}
                payload["stream_options"] = {**options, "include_usage": True}
            return payload
        messages = list(request.messages)
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        payload = {"model": request.model, "messages": messages, "stream": stream}
        if request.max_tokens is not None:
            # OpenAI's reasoning models reject the older `max_tokens`; every chat model takes this.
            payload["max_completion_tokens"] = request.max_tokens
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        payload = merge_extra(payload, request.extra)
        options = payload.pop("stream_options", None)
        if stream:
            # Without this OpenAI never reports usage for a stream, so the caller cannot turn
            # it off; their other stream options stay.
            options = options if isinstance(options, dict) else {}
            payload["stream_options"] = {**options, "include_usage": True}
        return payload

    def parse_result(self, raw: dict[str, Any]) -> ChatResult:
        choices = raw.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        delivered = Delivered()
        for choice in raw.get("choices") or []:
            add_output(delivered, choice.get("message") or {})
        return ChatResult(text=text, usage=openai_usage(raw.get("usage")), raw=raw,
                          usage_final=bool(raw.get("usage")), delivered_chars=delivered.chars)

    def new_event_parser(self) -> EventParser:
        return OpenAIEventParser()


class OpenAIEventParser(EventParser):
    """chat.completion.chunks: OpenAI reports usage once, in the last chunk."""

    def parse(self, event: str | None, data: str) -> StreamEvent:
        if data.strip() == "[DONE]":
            self.finished = True
            return StreamEvent(data=data, event=event)
        body = event_json(data)
        if body.get("error"):
            raise error_from_event(body)
        parts = []
        for choice in body.get("choices") or []:
            delta = choice.get("delta") or {}
            if choice.get("index", 0) == 0:
                parts.append(delta.get("content") or "")
            add_output(self.delivered, delta)
        text = "".join(parts)
        usage = None
        if body.get("usage"):
            usage = self.counted(openai_usage(body["usage"]), final=True)
        return StreamEvent(data=data, event=event, text=text, usage=usage, body=body)


def add_output(delivered: Delivered, message: dict[str, Any]) -> None:
    """A choice's message or delta: its text, reasoning and tool calls (names and arguments)."""
    for name in _OUTPUT_TEXT:
        value = message.get(name)
        if value:  # nothing else counts for any characters
            delivered.add_text(value)
    calls = message.get("tool_calls")
    function_call = message.get("function_call")
    if not calls and not function_call:
        return
    calls = list(calls or [])
    if function_call:
        calls.append({"function": function_call})
    for call in calls:
        function = call.get("function") or {}
        delivered.add_text(function.get("name"))
        delivered.add_json(function.get("arguments"))


# reasoning_content and reasoning: what OpenAI-compatible upstreams call the thinking.
_OUTPUT_TEXT = ("content", "refusal", "reasoning_content", "reasoning")


def openai_usage(block: dict[str, Any] | None) -> Usage:
    block = block or {}
    # prompt_tokens already includes the cached part; Usage keeps the buckets disjoint.
    cached = (block.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(
        input_tokens=(block.get("prompt_tokens") or 0) - cached,
        output_tokens=block.get("completion_tokens") or 0,
        cache_read_tokens=cached,
    )


_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_body(status: int, message: str, code: str | None, param: str | None = None) -> dict:
    """OpenAI's error object, as an answer body or a stream's error chunk."""
    kind = _ERROR_TYPES.get(status) or ("invalid_request_error" if status < 500
                                        else "server_error")
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


def is_usage_chunk(data: str) -> bool:
    """The chunk `stream_options.include_usage` adds: usage and no choices."""
    body = event_json(data)
    return bool(body.get("usage")) and not body.get("choices")

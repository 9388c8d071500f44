"""Google Gemini generateContent over httpx, with API keys or OAuth access tokens."""

from __future__ import annotations

from typing import Any

from app.providers.base import ChatRequest, ChatResult, StreamEvent, Usage
from app.providers.client import ProviderClient
from app.providers.errors import error_from_event
from app.providers.estimate import Delivered
from app.providers.payloads import GATEWAY_OWNED, merge_extra, split_system
from app.providers.streaming import EventParser, event_json


class GeminiClient(ProviderClient):
    default_base_url = "https://generativelanguage.googleapis.com"

    def url(self, request: ChatRequest, *, stream: bool) -> str:
        model = request.model.removeprefix("models/")
        if stream:
            return f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return f"{self.base_url}/v1beta/models/{model}:generateContent"

    def headers(self) -> dict[str, str]:
        if self.account.access_token:
            return {"Authorization": f"Bearer {self.account.access_token}"}
        return {"x-goog-api-key": self.account.api_key or ""}

    def payload(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        if request.native is not None:
            # Gemini's own body (a translated one among them): the model and streaming are
            # the URL's, never members.
            return {name: value for name, value in request.native.items()
                    if name not in GATEWAY_OWNED}
        system, turns = split_system(request)
        payload: dict[str, Any] = {"contents": [gemini_content(turn) for turn in turns]}
        if system:
            payload["systemInstruction"] = {"parts": [{"text": system}]}
        config: dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if config:
            payload["generationConfig"] = config
        return merge_extra(payload, request.extra)

    def parse_result(self, raw: dict[str, Any]) -> ChatResult:
        delivered = Delivered()
        add_candidates(delivered, raw)
        return ChatResult(
            text=candidate_text(raw), usage=gemini_usage(raw.get("usageMetadata")), raw=raw,
            usage_final=bool(raw.get("usageMetadata")), delivered_chars=delivered.chars,
        )

    def new_event_parser(self) -> GeminiEventParser:
        return GeminiEventParser()


class GeminiEventParser(EventParser):
    """GenerateContentResponse chunks: each carries running totals; those of the chunk with the
    finish reason are final."""

    def parse(self, event: str | None, data: str) -> StreamEvent:
        body = event_json(data)
        if body.get("error"):
            raise error_from_event(body)
        # Gemini has no end-of-stream marker; the last chunk is the one giving a finish reason.
        candidates = body.get("candidates") or []
        finishing = any(candidate.get("finishReason") for candidate in candidates)
        self.finished = self.finished or finishing
        add_candidates(self.delivered, body)
        usage = None
        if body.get("usageMetadata"):
            # Each chunk repeats the running totals, so the newest one replaces the last.
            usage = self.counted(gemini_usage(body["usageMetadata"]), final=finishing)
        return StreamEvent(data=data, event=event, text=candidate_text(body), usage=usage,
                           body=body)


def gemini_content(message: dict[str, Any]) -> dict[str, Any]:
    role = "model" if message.get("role") in ("assistant", "model") else "user"
    if "parts" in message:
        return {"role": role, "parts": message["parts"]}
    content = message.get("content")
    if isinstance(content, str):
        return {"role": role, "parts": [{"text": content}]}
    parts = [
        {"text": block.get("text", "")} if block.get("type") == "text" else block
        for block in content or []
        if isinstance(block, dict)
    ]
    return {"role": role, "parts": parts}


def candidate_text(body: dict[str, Any]) -> str:
    candidates = body.get("candidates") or [{}]
    parts = (candidates[0].get("content") or {}).get("parts") or []
    # Thought parts are the model's reasoning summary, not its answer.
    return "".join(part.get("text", "") for part in parts if not part.get("thought"))


def add_candidates(delivered: Delivered, body: dict[str, Any]) -> None:
    """Every candidate's text, thought summaries and function calls."""
    for candidate in body.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            delivered.add_text(part.get("text"))
            call = part.get("functionCall")
            if call:
                delivered.add_text(call.get("name"))
                delivered.add_json(call.get("args"))


def gemini_usage(block: dict[str, Any] | None) -> Usage:
    block = block or {}
    # promptTokenCount includes the cached part; thinking tokens are billed as output.
    cached = block.get("cachedContentTokenCount") or 0
    return Usage(
        input_tokens=(block.get("promptTokenCount") or 0) - cached,
        output_tokens=(block.get("candidatesTokenCount") or 0)
        + (block.get("thoughtsTokenCount") or 0),
        cache_read_tokens=cached,
    )


# HTTP status -> the google.rpc.Code name Google's APIs answer it with (the API design guide's
# table); other statuses fall back to INVALID_ARGUMENT (4xx) or INTERNAL (5xx).
_RPC_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def rpc_status(status: int) -> str:
    return _RPC_STATUS.get(status) or ("INVALID_ARGUMENT" if status < 500 else "INTERNAL")


def error_body(status: int, message: str, reason: str | None = None,
               domain: str = "relaygate") -> dict[str, Any]:
    """Google's error object (`{"error": {code, message, status}}`), as an answer body or a
    stream's error event; `reason` travels as a google.rpc.ErrorInfo detail, as Google's own
    reasons (API_KEY_INVALID...) do."""
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status(status)}
    if reason:
        error["details"] = [{"@type": ERROR_INFO, "reason": reason, "domain": domain}]
    return {"error": error}


def finishes(chunk: dict[str, Any]) -> bool:
    """Whether a stream chunk (its JSON object) gives a finish reason: Gemini's last chunk (it
    has no end marker)."""
    return any(candidate.get("finishReason") for candidate in chunk.get("candidates") or [])

"""What the client receives: Server-Sent Events and JSON, in our relay format or OpenAI's
(translated from any provider); native.py relays a provider's own format unchanged."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Protocol

from app.providers.base import ProviderError, StreamEvent
from app.wirenames import camelcase


@dataclass(frozen=True)
class UsageSummary:
    """The usage recorded for one request, as its client is told it (ChatUsageSchema names the
    members of the JSON answer's `usage`; the relay stream's `event: usage` uses the same)."""

    request_id: str
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    total_tokens: int
    cost: Decimal


class WireFormat(Protocol):
    """How one client protocol writes a chat's events and its finished answer."""

    media_type: str

    def event(self, event: StreamEvent) -> str: ...

    def usage(self, summary: UsageSummary) -> str: ...

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str: ...

    def closing(self) -> str: ...

    def answer(self, text: str, raw: dict, summary: UsageSummary) -> dict: ...


def _default(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


# One encoder for every call: json.dumps with options builds a new one each time.
_json = json.JSONEncoder(separators=(",", ":"), default=_default).encode


def sse(data: str, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    if "\n" not in data:  # nearly every event: one line of JSON
        return f"{head}data: {data}\n\n"
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


class RelayFormat:
    """Each upstream event exactly as it came, then `event: usage` (or `event: error`)."""

    media_type = "text/event-stream"

    def __init__(self, model: dict, request_id: str) -> None:
        self.model, self.request_id = model, request_id

    def event(self, event: StreamEvent) -> str:
        return sse(event.data, event.event)

    def usage(self, summary: UsageSummary) -> str:
        return sse(_json({camelcase(member.name): getattr(summary, member.name)
                          for member in fields(summary)}), "usage")

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        return sse(_json({"success": False, "error": {"code": code, "message": message}}),
                   "error")

    def closing(self) -> str:
        return ""

    def answer(self, text: str, raw: dict, summary: UsageSummary) -> dict:
        return {"id": self.request_id, "model": self.model["id"],
                "provider": self.model["provider"], "content": text, "usage": summary,
                "upstream": raw}


class OpenAIFormat:
    """OpenAI's chat.completion(.chunk) shapes, whatever the upstream provider."""

    media_type = "text/event-stream"

    def __init__(self, model: dict, request_id: str) -> None:
        self.model_name, self.id = model["id"], request_id
        self.created = int(time.time())

    def _chunk(self, delta: dict, finish_reason=None, usage=None) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        if usage is not None:
            body["usage"] = usage
        return sse(_json(body))

    def event(self, event: StreamEvent) -> str:
        return self._chunk({"content": event.text}) if event.text else ""

    def usage(self, summary: UsageSummary) -> str:
        return self._chunk({}, "stop", _openai_usage(summary))

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        return sse(_json({"error": {"message": message, "type": "upstream_error",
                                    "code": code}}))

    def closing(self) -> str:
        return sse("[DONE]")

    def answer(self, text: str, raw: dict, summary: UsageSummary) -> dict:
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model_name,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": _openai_usage(summary)}


def _openai_usage(summary: UsageSummary) -> dict:
    prompt = summary.input_tokens + summary.cache_write_tokens + summary.cache_read_tokens
    return {"prompt_tokens": prompt, "completion_tokens": summary.output_tokens,
            "total_tokens": prompt + summary.output_tokens,
            "prompt_tokens_details": {"cached_tokens": summary.cache_read_tokens}}


FORMATS: dict[str, Callable[[dict, str], WireFormat]] = {"relay": RelayFormat,
                                                       "openai": OpenAIFormat}

"""OpenAI's Responses API upstream (`{base_url}/responses`): a client's Responses body relayed
as sent to an account that speaks it, and the usage read from its answer.

Usage: `input_tokens` includes `input_tokens_details.cached_tokens` (as OpenAI's chat
`prompt_tokens` does), so the cached part is taken out of the input bucket; reasoning tokens
are inside `output_tokens` already. A stream's usage is in its last event
(`response.completed`, or `response.incomplete`/`response.failed`), in its `response`.
"""

from __future__ import annotations

from typing import Any

from app.providers.base import ChatResult, StreamEvent, Usage
from app.providers.errors import error_from_event
from app.providers.estimate import Delivered
from app.providers.streaming import EventParser, event_json

# The events that end a Responses stream; each carries the whole response with its usage.
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def responses_usage(block: dict[str, Any] | None) -> Usage:
    block = block or {}
    cached = (block.get("input_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(input_tokens=(block.get("input_tokens") or 0) - cached,
                 output_tokens=block.get("output_tokens") or 0, cache_read_tokens=cached)


def add_output(delivered: Delivered, items: list[dict[str, Any]]) -> None:
    """A response's output items: message text, function-call names and arguments."""
    for item in items:
        for part in item.get("content") or []:
            if isinstance(part, dict):
                delivered.add_text(part.get("text") or part.get("refusal"))
        delivered.add_text(item.get("name"))
        delivered.add_json(item.get("arguments"))


def responses_result(raw: dict[str, Any]) -> ChatResult:
    text = "".join(part.get("text") or "" for item in raw.get("output") or []
                   if item.get("type") == "message"
                   for part in item.get("content") or [] if isinstance(part, dict))
    delivered = Delivered()
    add_output(delivered, raw.get("output") or [])
    return ChatResult(text=text, usage=responses_usage(raw.get("usage")), raw=raw,
                      usage_final=bool(raw.get("usage")), delivered_chars=delivered.chars)


class ResponsesEventParser(EventParser):
    """Responses events: the usage comes once, in the final `response.completed` (or
    `.incomplete`, `.failed`)."""

    def parse(self, event: str | None, data: str) -> StreamEvent:
        body = event_json(data)
        kind = body.get("type") or event
        if kind == "error":  # {"type": "error", "code", "message"}, or inside `error`
            detail = body.get("error")
            raise error_from_event({"error": detail if isinstance(detail, dict) else body})
        text, usage = "", None
        if kind == "response.output_text.delta":
            text = body.get("delta") or ""
            self.delivered.add_text(text)
        elif kind in ("response.function_call_arguments.delta",
                      "response.reasoning_summary_text.delta", "response.refusal.delta"):
            self.delivered.add_text(body.get("delta"))
        elif kind in FINAL_EVENTS:
            self.finished = True
            response = body.get("response") or {}
            if response.get("usage"):
                usage = self.counted(responses_usage(response["usage"]), final=True)
        return StreamEvent(data=data, event=event, text=text, usage=usage, body=body)

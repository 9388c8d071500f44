"""Gemini's stream chunks to and from neutral events."""

from __future__ import annotations

import json
from typing import Any

from app.protocols.gemini_generate.answer import (
    FINISH,
    function_call,
    response_id,
    stop_reason,
    thought_part,
    usage_from_neutral,
    usage_to_neutral,
)
from app.protocols.neutral import (
    BlockStart,
    BlockStop,
    Delta,
    End,
    Event,
    Finish,
    Start,
    Usage,
)


class StreamDecoder:
    """Gemini's chunks (the first candidate's parts, running usage totals, no end marker) as
    neutral events: text and thinking blocks follow one another; a function call arrives
    whole, its own block; the chunk with the finish reason ends the stream."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.open: str | None = None  # "text" or "thinking"
        self.index = -1
        self.calls = 0
        self.usage: Usage | None = None
        self.ended = False

    def feed(self, event: str | None, data: str,
             body: dict[str, Any] | None = None) -> list[Event]:
        if self.ended:
            return []
        body = json.loads(data) if body is None else body
        out: list[Event] = []
        if body.get("usageMetadata"):
            self.usage = usage_to_neutral(body["usageMetadata"])
        if self.id is None:
            self.id = response_id(body)
            out.append(Start(self.id, body.get("modelVersion") or "", self.usage))
        candidates = body.get("candidates") or []
        candidate = candidates[0] if candidates else {}
        for part in (candidate.get("content") or {}).get("parts") or []:
            out += self._part(part)
        reason = candidate.get("finishReason")
        if reason is None and not candidates and (body.get("promptFeedback") or {}).get(
                "blockReason"):
            reason = "SAFETY"
        if reason is not None:
            self.ended = True
            out += [*self._close(), Finish(stop_reason(reason, self.calls > 0), self.usage), End()]
        return out

    def _part(self, part: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        signature = part.get("thoughtSignature")
        if part.get("thought"):
            out += self._open("thinking")
            if part.get("text"):
                out.append(Delta(self.index, "thinking", part["text"]))
            if signature:
                out.append(Delta(self.index, "signature", signature))
            return out
        if signature:
            # A call's or a text's own signature: an empty signed block just before it, as
            # answer_to_neutral has it, so the signature goes back on the same part.
            out += [*self._close(), *self._open("thinking"),
                    Delta(self.index, "signature", signature)]
        if part.get("text"):
            out += self._open("text")
            out.append(Delta(self.index, "text", part["text"]))
        elif "functionCall" in part:
            call = part["functionCall"]
            out += self._close()
            self.index += 1
            call_id = call.get("id") or f"call_{self.id}_{self.calls}"
            self.calls += 1
            out += [BlockStart(self.index, "tool_call", call_id, call.get("name")),
                    Delta(self.index, "arguments",
                          json.dumps(call.get("args") or {}, ensure_ascii=False)),
                    BlockStop(self.index)]
        return out

    def _open(self, kind: str) -> list[Event]:
        if self.open == kind:
            return []
        out = self._close()
        self.open, self.index = kind, self.index + 1
        return [*out, BlockStart(self.index, kind)]  # type: ignore[arg-type]

    def _close(self) -> list[Event]:
        if self.open is None:
            return []
        self.open = None
        return [BlockStop(self.index)]


class StreamEncoder:
    """Neutral events as Gemini chunks (`data:` frames, no event names): a chunk per text or
    thinking delta, a function call whole when its block stops, and the last chunk, with the
    finish reason and usage, at the end (so it is held until the usage is recorded)."""

    def __init__(self, *, created: int = 0, include_usage: bool = True) -> None:
        self.id = self.model = ""
        self.usage: Usage | None = None
        self.finish: Finish | None = None
        self.calls: dict[int, list] = {}  # block index -> [id, name, arguments so far]

    def _chunk(self, parts: list[dict[str, Any]], reason: str | None = None) -> tuple[None, dict]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if reason:
            candidate["finishReason"] = reason
        body: dict[str, Any] = {"candidates": [candidate], "modelVersion": self.model,
                                "responseId": self.id}
        if reason and self.usage is not None:
            body["usageMetadata"] = usage_from_neutral(self.usage)
        return None, body

    def encode(self, event: Event) -> list[tuple[str | None, Any]]:
        if isinstance(event, Start):
            self.id, self.model, self.usage = event.id, event.model, event.usage
        elif isinstance(event, BlockStart) and event.kind == "tool_call":
            self.calls[event.index] = [event.id, event.name, ""]
        elif isinstance(event, Delta):
            if event.kind == "arguments":
                self.calls[event.index][2] += event.value
            elif event.kind == "text":
                return [self._chunk([{"text": event.value}])]
            elif event.kind == "thinking":
                return [self._chunk([thought_part(event.value, None)])]
            else:
                return [self._chunk([thought_part("", event.value)])]
        elif isinstance(event, BlockStop) and event.index in self.calls:
            return [self._chunk([{"functionCall": function_call(*self.calls.pop(event.index))}])]
        elif isinstance(event, Finish):
            self.finish, self.usage = event, event.usage or self.usage
        elif isinstance(event, End):
            stop = self.finish.stop if self.finish else None
            return [self._chunk([{"text": ""}], FINISH.get(stop or "end"))]
        return []

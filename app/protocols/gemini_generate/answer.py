"""Gemini's answers and usage to and from the neutral form, and the parts answers and
streams share (a thought, a call, a finish reason)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from app.protocols.neutral import (
    Answer,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    Usage,
)

# Anthropic's redacted (encrypted) thinking, carried to a Gemini client as a signature only
REDACTED = "redacted:"
# Gemini's finish reasons; any other (OTHER, MALFORMED_FUNCTION_CALL...) ends the turn.
_STOP: dict[str, StopReason] = {
    "STOP": "end", "MAX_TOKENS": "max_tokens", "SAFETY": "refusal", "RECITATION": "refusal",
    "LANGUAGE": "refusal", "BLOCKLIST": "refusal", "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal", "IMAGE_SAFETY": "refusal"}
FINISH = {"end": "STOP", "stop_sequence": "STOP", "tool_use": "STOP",
          "max_tokens": "MAX_TOKENS", "refusal": "SAFETY"}


def usage_to_neutral(block: dict[str, Any] | None) -> Usage | None:
    if not block:
        return None
    cached = block.get("cachedContentTokenCount") or 0
    return Usage(input=(block.get("promptTokenCount") or 0) - cached,
                 output=(block.get("candidatesTokenCount") or 0)
                 + (block.get("thoughtsTokenCount") or 0),
                 cache_read=cached)


def usage_from_neutral(usage: Usage) -> dict[str, int]:
    """Gemini's usageMetadata: a cache write (which Gemini has no count for) is prompt."""
    block = {"promptTokenCount": usage.prompt, "candidatesTokenCount": usage.output,
             "totalTokenCount": usage.prompt + usage.output}
    if usage.cache_read:
        block["cachedContentTokenCount"] = usage.cache_read
    return block


def response_id(raw: dict[str, Any]) -> str:
    return raw.get("responseId") or uuid.uuid4().hex


def answer_to_neutral(raw: dict[str, Any]) -> Answer:
    answer_id = response_id(raw)
    candidates = [_candidate_to_neutral(raw, answer_id, candidate)
                  for candidate in raw.get("candidates") or [{}]]
    answer = candidates[0]
    if not raw.get("candidates") and (raw.get("promptFeedback") or {}).get("blockReason"):
        answer.stop = "refusal"
    answer.usage, answer.others = usage_to_neutral(raw.get("usageMetadata")), candidates[1:]
    return answer


def _candidate_to_neutral(raw: dict[str, Any], answer_id: str,
                          candidate: dict[str, Any]) -> Answer:
    parts: list = []
    calls = 0
    for part in (candidate.get("content") or {}).get("parts") or []:
        for item in _answer_part(part):
            if isinstance(item, ToolCall):
                number = f"{candidate['index']}_{calls}" if candidate.get("index") else calls
                item.id = item.id or f"call_{answer_id}_{number}"
                calls += 1
            if isinstance(item, Text) and parts and isinstance(parts[-1], Text):
                parts[-1].text += item.text  # one text, as the client's formats have it
            else:
                parts.append(item)
    return Answer(answer_id, raw.get("modelVersion") or "", parts,
                  stop_reason(candidate.get("finishReason"), calls > 0))


def _answer_part(part: dict[str, Any]) -> list:
    signature = part.get("thoughtSignature")
    if part.get("thought"):
        return [Thinking(part.get("text") or "", signature)]
    out: list = [Thinking("", signature)] if signature else []
    if part.get("text"):
        out.append(Text(part["text"]))
    elif "functionCall" in part:
        call = part["functionCall"]
        out.append(ToolCall(call.get("id") or "", call.get("name") or "",
                            json.dumps(call.get("args") or {}, ensure_ascii=False)))
    return out


def stop_reason(reason: str | None, called: bool) -> StopReason | None:
    if reason is None:
        return None
    stop = _STOP.get(reason, "end")
    return "tool_use" if called and stop == "end" else stop


def answer_from_neutral(answer: Answer, *, created: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "candidates": [_candidate(choice, index)
                       for index, choice in enumerate([answer, *answer.others])],
        "modelVersion": answer.model, "responseId": answer.id}
    if answer.usage is not None:
        body["usageMetadata"] = usage_from_neutral(answer.usage)
    return body


def _candidate(answer: Answer, index: int) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for part in answer.parts:
        if isinstance(part, Text):
            parts.append({"text": part.text})
        elif isinstance(part, ToolCall):
            parts.append({"functionCall": function_call(part.id, part.name, part.arguments)})
        else:
            parts.append(thought_part(part.text, part.signature) if part.redacted is None
                         else thought_part("", REDACTED + part.redacted))
    return {"content": {"role": "model", "parts": parts},
            "finishReason": FINISH.get(answer.stop or "end"), "index": index}


def thought_part(text: str, signature: str | None) -> dict[str, Any]:
    return {"text": text, "thought": True, **({"thoughtSignature": signature}
                                               if signature else {})}


def function_call(call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    """A functionCall, its id kept (Gemini has the member; the client hands it back)."""
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        args = None
    if not isinstance(args, dict):
        args = {"_arguments": arguments}
    return {**({"id": call_id} if call_id else {}), "name": name, "args": args}

"""Helpers for turning a neutral ChatRequest into a provider payload."""

from __future__ import annotations

from typing import Any

from app.providers.base import ChatRequest

# What the gateway's relaying and billing depend on: the model it leased an account for and
# whether it reads a stream. A caller's value for these is dropped, never merged.
GATEWAY_OWNED = frozenset({"model", "stream"})


def merge_extra(payload: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Caller options win, except GATEWAY_OWNED members; nested option blocks (e.g.
    generationConfig) merge one level deep."""
    for key, value in extra.items():
        if key in GATEWAY_OWNED:
            continue
        if isinstance(value, dict) and isinstance(payload.get(key), dict):
            payload[key] = {**payload[key], **value}
        else:
            payload[key] = value
    return payload


def split_system(request: ChatRequest) -> tuple[str | None, list[dict[str, Any]]]:
    """The system prompt and the remaining turns, folding in any system-role messages."""
    parts = [request.system] if request.system else []
    turns = []
    for message in request.messages:
        if message.get("role") == "system":
            parts.append(content_text(message.get("content")))
        else:
            turns.append(message)
    return ("\n\n".join(parts) if parts else None), turns


def content_text(content: Any) -> str:
    """Plain text of a message content that is either a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return ""


def native_payload(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The client's own body, with only the gateway's members (GATEWAY_OWNED) set; members
    keep their place and a body that said nothing of streaming still says nothing."""
    body = {**(request.native or {}), "model": request.model}
    if stream or "stream" in body:
        body["stream"] = stream
    return body

"""Tool names a target allows, shortened reversibly: OpenAI and Anthropic both take
`^[a-zA-Z0-9_-]{1,64}$`. A longer or stranger name becomes a readable prefix and a hash of the
whole name, the same every time (so a later turn's history shortens alike), and answers map
it back to the client's own name."""

from __future__ import annotations

import hashlib
import re

from app.protocols.neutral import Answer, BlockStart, Request, ToolCall

LIMIT = 64
_ALLOWED = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_OUTSIDE = re.compile(r"[^a-zA-Z0-9_-]")


def shorten(name: str) -> str:
    if _ALLOWED.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{_OUTSIDE.sub('_', name)[:LIMIT - 9]}_{digest}"


class ToolNames:
    """The target's names for one request's tools, and the way back."""

    def __init__(self) -> None:
        self.original: dict[str, str] = {}

    def _target(self, name: str) -> str:
        short = shorten(name)
        if short != name:
            self.original[short] = name
        return short

    def shorten_request(self, request: Request) -> None:
        for tool in request.tools:
            tool.name = self._target(tool.name)
        if request.tool_choice is not None and request.tool_choice.name:
            request.tool_choice.name = self._target(request.tool_choice.name)
        for message in request.messages:
            for part in message.parts:
                if isinstance(part, ToolCall):
                    part.name = self._target(part.name)

    def restore(self, item: Answer | BlockStart) -> None:
        """The client's own names in an answer or a stream's tool-call block."""
        if not self.original:
            return
        if isinstance(item, BlockStart):
            item.name = self.original.get(item.name, item.name) if item.name else item.name
            return
        for part in item.parts:
            if isinstance(part, ToolCall):
                part.name = self.original.get(part.name, part.name)

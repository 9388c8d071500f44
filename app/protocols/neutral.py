"""The neutral form every wire format translates to and from: a request, an answer, stream
events and usage. Names follow no provider; a format module does the renaming."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from app.protocols import Untranslatable

StopReason = Literal["end", "max_tokens", "tool_use", "stop_sequence", "refusal"]
DeltaKind = Literal["text", "thinking", "signature", "arguments"]


@dataclass
class Text:
    text: str


@dataclass
class Image:
    """Inline (`data`, base64, with its media type) or by `url`."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None


@dataclass
class ToolCall:
    """The model calling a tool; `arguments` is JSON text, as it streams."""

    id: str
    name: str
    arguments: str

    def arguments_object(self, field: str, why: str) -> dict[str, Any]:
        """The arguments as the JSON object a provider takes (empty text: {}); otherwise
        Untranslatable(`field`, `why`)."""
        try:
            found = json.loads(self.arguments) if self.arguments.strip() else {}
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise Untranslatable(field, why)
        return found


@dataclass
class ToolResult:
    id: str
    content: list[Text | Image]
    is_error: bool = False


@dataclass
class Thinking:
    """The model's reasoning; `signature` lets the provider check it when it comes back;
    `redacted` holds an encrypted block's data instead of text."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None


Part = Text | Image | ToolCall | ToolResult | Thinking


@dataclass
class Message:
    role: Literal["user", "assistant"]
    parts: list[Part]


@dataclass
class Tool:
    name: str
    description: str | None
    parameters: dict


@dataclass
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None  # with mode "tool"


@dataclass
class Request:
    model: str
    messages: list[Message]
    system: list[Text] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    n: int | None = None
    # {"type": "text" | "json_object" | "json_schema", ...}, as OpenAI names it.
    response_format: dict | None = None
    # Tokens the model may think for before answering; None: no thinking asked.
    thinking_budget: int | None = None
    user: str | None = None
    stream: bool = False


@dataclass
class Usage:
    """Four disjoint buckets: `input` never includes the cached tokens."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    @property
    def prompt(self) -> int:
        return self.input + self.cache_write + self.cache_read


@dataclass
class Answer:
    id: str
    model: str
    parts: list[Text | ToolCall | Thinking]
    stop: StopReason | None
    usage: Usage | None = None
    stop_sequence: str | None = None
    # The other choices when more than one was asked for (`n`), each with its parts and stop.
    others: list[Answer] = field(default_factory=list)


# -- stream events: a message start, blocks (start, deltas, stop) one after another, the
# finish with the stop reason and usage, and the end.


@dataclass
class Start:
    id: str
    model: str
    usage: Usage | None = None


@dataclass
class BlockStart:
    index: int
    kind: Literal["text", "thinking", "tool_call"]
    id: str | None = None  # a tool call's id and name
    name: str | None = None


@dataclass
class Delta:
    """Text, thinking, a thinking block's signature, or a piece of a tool call's arguments."""

    index: int
    kind: DeltaKind
    value: str


@dataclass
class BlockStop:
    index: int


@dataclass
class Finish:
    stop: StopReason | None
    usage: Usage | None = None
    stop_sequence: str | None = None


@dataclass
class End:
    pass


Event = Start | BlockStart | Delta | BlockStop | Finish | End

"""Anthropic Messages: request, answer and stream events to and from the neutral form.

Usage buckets are Anthropic's own (input excludes cache writes and reads). Thinking has its
blocks, signatures included. Anthropic answers one choice (`n` > 1 is refused) and has no JSON
mode (`response_format` asking for JSON is refused: ask in the prompt, or give a tool).
Hints with no counterpart elsewhere (`cache_control`, an image's `detail`) are not carried.
"""

from __future__ import annotations

import json
from typing import Any

from app.protocols import Untranslatable
from app.protocols.neutral import (
    Answer,
    BlockStart,
    BlockStop,
    Delta,
    DeltaKind,
    End,
    Event,
    Finish,
    Image,
    Message,
    Request,
    Start,
    StopReason,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)

CARRIES_THINKING = True
# Anthropic requires max_tokens; a client of another format may have said nothing.
DEFAULT_MAX_TOKENS = 4096
_STOP: dict[str, StopReason] = {
    "end_turn": "end", "max_tokens": "max_tokens", "tool_use": "tool_use",
    "stop_sequence": "stop_sequence", "refusal": "refusal", "pause_turn": "end",
    "model_context_window_exceeded": "max_tokens"}
_STOP_REASON = {"end": "end_turn", "max_tokens": "max_tokens", "tool_use": "tool_use",
                "stop_sequence": "stop_sequence", "refusal": "refusal"}
_CHOICES: dict[str, Any] = {"auto": "auto", "any": "required", "tool": "tool", "none": "none"}
_CHOICE_TYPES = {mode: kind for kind, mode in _CHOICES.items()}
_MEMBERS = {"model", "messages", "system", "max_tokens", "temperature", "top_p",
            "stop_sequences", "tools", "tool_choice", "stream", "metadata", "thinking"}
_DELTAS: dict[str, tuple[DeltaKind, str]] = {
    "text_delta": ("text", "text"), "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "signature"),
    "input_json_delta": ("arguments", "partial_json")}
_DELTA_TYPES = {kind: (name, member) for name, (kind, member) in _DELTAS.items()}


# -- requests -------------------------------------------------------------------------------

def request_to_neutral(body: dict[str, Any]) -> Request:
    for name, value in body.items():
        if name not in _MEMBERS and value is not None:
            raise Untranslatable(name, "no other provider has it")
    system = body.get("system")
    if isinstance(system, str):
        system = [{"type": "text", "text": system}] if system else []
    messages = [Message(message["role"], _parts(message.get("content"), f"messages[{i}]"))
                for i, message in enumerate(body.get("messages") or [])]
    choice = body.get("tool_choice") or {}
    thinking = body.get("thinking") or {}
    budget = None
    if thinking.get("type") not in (None, "disabled"):
        budget = thinking.get("budget_tokens") or 1024
    return Request(
        model=body.get("model") or "", messages=messages,
        system=[Text(block.get("text") or "") for block in system or []],
        tools=[_tool(tool, i) for i, tool in enumerate(body.get("tools") or [])],
        tool_choice=ToolChoice(_CHOICES[choice["type"]], choice.get("name")) if choice else None,
        parallel_tool_calls=False if choice.get("disable_parallel_tool_use") else None,
        max_tokens=body.get("max_tokens"), temperature=body.get("temperature"),
        top_p=body.get("top_p"), stop=list(body.get("stop_sequences") or []),
        thinking_budget=budget, user=(body.get("metadata") or {}).get("user_id"),
        stream=bool(body.get("stream")))


def _parts(content: Any, where: str) -> list:
    if isinstance(content, str):
        return [Text(content)] if content else []
    parts: list = []
    for j, block in enumerate(content or []):
        kind = block.get("type")
        if kind == "text":
            parts.append(Text(block.get("text") or ""))
        elif kind == "image":
            parts.append(_image(block.get("source") or {}, f"{where}.content[{j}]"))
        elif kind == "tool_use":
            parts.append(ToolCall(block["id"], block["name"],
                                  json.dumps(block.get("input") or {}, ensure_ascii=False)))
        elif kind == "tool_result":
            parts.append(ToolResult(block["tool_use_id"],
                                    _parts(block.get("content"), f"{where}.content[{j}]"),
                                    bool(block.get("is_error"))))
        elif kind == "thinking":
            parts.append(Thinking(block.get("thinking") or "", block.get("signature")))
        elif kind == "redacted_thinking":
            parts.append(Thinking(redacted=block.get("data")))
        else:
            raise Untranslatable(f"{where}.content[{j}].type", f"a {kind!r} block")
    return parts


def _image(source: dict, where: str) -> Image:
    if source.get("type") == "base64":
        return Image(media_type=source.get("media_type"), data=source.get("data"))
    if source.get("type") == "url":
        return Image(url=source.get("url"))
    raise Untranslatable(f"{where}.source.type", f"an image from {source.get('type')!r}")


def _tool(tool: dict, index: int) -> Tool:
    if tool.get("type") not in (None, "custom"):
        raise Untranslatable(f"tools[{index}]", f"Anthropic's server tool {tool['type']!r}")
    return Tool(tool["name"], tool.get("description"), tool.get("input_schema") or {})


def leaves_out(request: Request) -> set[str]:
    """What of `request` this format cannot carry and leaves out: another provider's
    (unsigned) thinking."""
    return {"thinking"} if any(
        isinstance(part, Thinking) and not part.signature and part.redacted is None
        for message in request.messages for part in message.parts) else set()


def request_from_neutral(request: Request) -> dict[str, Any]:
    if request.n not in (None, 1):
        raise Untranslatable("n", "Anthropic answers one choice per request")
    if (request.response_format or {}).get("type", "text") != "text":
        raise Untranslatable("response_format", "Anthropic has no JSON mode; ask for JSON "
                                                "in the prompt, or give a tool to call")
    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": request.model, "messages": _turns(request.messages)}
    if request.system:
        texts = [part.text for part in request.system]
        body["system"] = texts[0] if len(texts) == 1 else [
            {"type": "text", "text": text} for text in texts]
    if request.thinking_budget:
        # The budget comes on top of the answer the client asked for, as a reasoning
        # model's hidden reasoning does.
        body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
        max_tokens += request.thinking_budget
    body["max_tokens"] = max_tokens
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
        if getattr(request, ours) is not None:
            body[theirs] = getattr(request, ours)
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.tools:
        body["tools"] = [{"name": tool.name,
                          **({"description": tool.description} if tool.description else {}),
                          "input_schema": tool.parameters} for tool in request.tools]
    choice = _tool_choice(request)
    if choice:
        body["tool_choice"] = choice
    if request.user:
        body["metadata"] = {"user_id": request.user}
    body["stream"] = request.stream
    return body


def _tool_choice(request: Request) -> dict[str, Any] | None:
    choice = request.tool_choice
    mode = _CHOICE_TYPES[choice.mode] if choice else None
    one_at_a_time = request.parallel_tool_calls is False and request.tools and mode != "none"
    if mode is None and not one_at_a_time:
        return None
    out: dict[str, Any] = {"type": mode or "auto"}
    if choice and mode == "tool":
        out["name"] = choice.name
    if one_at_a_time:
        out["disable_parallel_tool_use"] = True
    return out


def _turns(messages: list[Message]) -> list[dict[str, Any]]:
    """Anthropic's alternating turns: neighbours of one role (an OpenAI client's tool
    messages and the user message after them) become one turn."""
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        blocks = [block for part in message.parts if (block := _block(part, i)) is not None]
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": message.role, "content": blocks})
    return turns


def _block(part, index: int) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Image):
        if part.url:
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        return {"type": "image", "source": {"type": "base64", "media_type": part.media_type,
                                            "data": part.data}}
    if isinstance(part, ToolCall):
        arguments = part.arguments_object(f"messages[{index}].tool_calls.arguments",
                                          "Anthropic takes a tool's input as a JSON object")
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": arguments}
    if isinstance(part, ToolResult):
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.id,
                                 "content": [b for item in part.content
                                             if (b := _block(item, index)) is not None]}
        if part.is_error:
            block["is_error"] = True
        return block
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    # Unsigned thinking (another provider's) would be refused; it is not carried.
    if part.signature:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None


# -- answers --------------------------------------------------------------------------------

def usage_to_neutral(block: dict[str, Any] | None, into: Usage | None = None) -> Usage | None:
    """`block`'s counts over `into`'s: absent members keep their value (a message_delta
    carries cumulative counts, perhaps only the output)."""
    if not block:
        return into
    usage = into or Usage()

    def count(name: str, kept: int) -> int:
        value = block.get(name)
        return value if isinstance(value, int) else kept

    return Usage(input=count("input_tokens", usage.input),
                 output=count("output_tokens", usage.output),
                 cache_write=count("cache_creation_input_tokens", usage.cache_write),
                 cache_read=count("cache_read_input_tokens", usage.cache_read))


def usage_from_neutral(usage: Usage) -> dict[str, int]:
    return {"input_tokens": usage.input, "output_tokens": usage.output,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cache_read}


def answer_to_neutral(raw: dict[str, Any]) -> Answer:
    parts: list = []
    for block in raw.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            parts.append(Text(block.get("text") or ""))
        elif kind == "tool_use":
            parts.append(ToolCall(block["id"], block["name"],
                                  json.dumps(block.get("input") or {}, ensure_ascii=False)))
        elif kind == "thinking":
            parts.append(Thinking(block.get("thinking") or "", block.get("signature")))
        elif kind == "redacted_thinking":
            parts.append(Thinking(redacted=block.get("data")))
    return Answer(raw.get("id") or "", raw.get("model") or "", parts,
                  _STOP.get(raw.get("stop_reason") or "", "end"),
                  usage_to_neutral(raw.get("usage")), raw.get("stop_sequence"))


def answer_from_neutral(answer: Answer, *, created: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in answer.parts:
        if isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCall):
            content.append({"type": "tool_use", "id": part.id, "name": part.name,
                            "input": _input(part.arguments)})
        elif part.redacted is not None:
            content.append({"type": "redacted_thinking", "data": part.redacted})
        else:
            content.append({"type": "thinking", "thinking": part.text,
                            "signature": part.signature or ""})
    return {"id": answer.id, "type": "message", "role": "assistant", "model": answer.model,
            "content": content, "stop_reason": _STOP_REASON.get(answer.stop or "end"),
            "stop_sequence": answer.stop_sequence,
            "usage": usage_from_neutral(answer.usage or Usage())}


def _input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as Anthropic's input object; arguments that are no JSON object
    (a model's slip) are kept whole under `_arguments` rather than lost."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"_arguments": arguments}


# -- streams --------------------------------------------------------------------------------

class StreamDecoder:
    """A Messages stream as neutral events, block for block."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.blocks: set[int] = set()  # the indexes of blocks carried (server tools are not)

    def feed(self, event: str | None, data: str,
             body: dict[str, Any] | None = None) -> list[Event]:
        body = json.loads(data) if body is None else body
        kind = body.get("type") or event
        if kind == "message_start":
            message = body.get("message") or {}
            self.usage = usage_to_neutral(message.get("usage"))
            return [Start(message.get("id") or "", message.get("model") or "", self.usage)]
        if kind == "content_block_start":
            return self._start(body["index"], body.get("content_block") or {})
        if kind == "content_block_delta" and body["index"] in self.blocks:
            delta = body.get("delta") or {}
            found = _DELTAS.get(delta.get("type") or "")
            if found is None or not delta.get(found[1]):
                return []
            return [Delta(body["index"], found[0], delta[found[1]])]
        if kind == "content_block_stop" and body["index"] in self.blocks:
            return [BlockStop(body["index"])]
        if kind == "message_delta":
            delta = body.get("delta") or {}
            self.usage = usage_to_neutral(body.get("usage"), self.usage)
            return [Finish(_STOP.get(delta.get("stop_reason") or "", "end"), self.usage,
                           delta.get("stop_sequence"))]
        if kind == "message_stop":
            return [End()]
        return []

    def _start(self, index: int, block: dict[str, Any]) -> list[Event]:
        kind = block.get("type")
        if kind == "tool_use":
            self.blocks.add(index)
            return [BlockStart(index, "tool_call", block.get("id"), block.get("name"))]
        if kind not in ("text", "thinking", "redacted_thinking"):
            return []
        self.blocks.add(index)
        start: list[Event] = [BlockStart(index, "text" if kind == "text" else "thinking")]
        if block.get("text"):
            start.append(Delta(index, "text", block["text"]))
        return start


class StreamEncoder:
    """Neutral events as Messages events: message_start, each block's start, deltas and stop,
    message_delta with the stop reason and usage, message_stop."""

    def __init__(self, *, created: int = 0, include_usage: bool = True) -> None:
        self.numbers: dict[int, int] = {}  # neutral block index -> ours, from 0

    def encode(self, event: Event) -> list[tuple[str | None, Any]]:
        if isinstance(event, Start):
            message: dict[str, Any] = {
                "id": event.id, "type": "message", "role": "assistant", "model": event.model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": usage_from_neutral(event.usage or Usage())}
            return [("message_start", {"type": "message_start", "message": message})]
        if isinstance(event, BlockStart):
            self.numbers[event.index] = number = len(self.numbers)
            block: dict[str, Any] = {"type": "text", "text": ""}
            if event.kind == "thinking":
                block = {"type": "thinking", "thinking": "", "signature": ""}
            elif event.kind == "tool_call":
                block = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            return [("content_block_start", {"type": "content_block_start", "index": number,
                                              "content_block": block})]
        if isinstance(event, Delta):
            kind, member = _DELTA_TYPES[event.kind]
            return [("content_block_delta", {
                "type": "content_block_delta", "index": self.numbers[event.index],
                "delta": {"type": kind, member: event.value}})]
        if isinstance(event, BlockStop):
            return [("content_block_stop", {"type": "content_block_stop",
                                             "index": self.numbers[event.index]})]
        if isinstance(event, Finish):
            return [("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": _STOP_REASON.get(event.stop or "end"),
                          "stop_sequence": event.stop_sequence},
                "usage": usage_from_neutral(event.usage or Usage())})]
        return [("message_stop", {"type": "message_stop"})]

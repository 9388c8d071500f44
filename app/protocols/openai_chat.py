"""OpenAI chat completions: request, answer and stream chunks to and from the neutral form.

Usage: OpenAI's `prompt_tokens` includes the cached tokens (`prompt_tokens_details.
cached_tokens`) and it has no cache-write count, so the neutral input is the prompt less the
cache, and a cache write (from a provider that reports one) is counted inside the prompt.
Thinking: chat completions have no field for it (OpenAI keeps reasoning hidden), so it is
dropped on the way out; an upstream's `reasoning_content` (DeepSeek, vLLM) is read as thinking.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from app.protocols import Untranslatable
from app.protocols.neutral import (
    Answer,
    BlockStart,
    BlockStop,
    Delta,
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

CARRIES_THINKING = False
_FINISH = {"end": "stop", "stop_sequence": "stop", "max_tokens": "length",
           "tool_use": "tool_calls", "refusal": "content_filter"}
_STOP: dict[str, StopReason] = {"stop": "end", "length": "max_tokens", "tool_calls": "tool_use",
                                "function_call": "tool_use", "content_filter": "refusal"}
_CHOICE_MODES: dict[str, Literal["auto", "none", "required"]] = {
    "auto": "auto", "none": "none", "required": "required"}
# reasoning_effort -> the thinking budget asked of a provider that takes one
EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
# Members some clients always send, at values that ask for nothing.
_NO_EFFECT = {"frequency_penalty": 0, "presence_penalty": 0, "logprobs": False}
_MEMBERS = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
            "stop", "n", "tools", "tool_choice", "parallel_tool_calls", "response_format",
            "stream", "stream_options", "user", "reasoning_effort"}


# -- requests -------------------------------------------------------------------------------

def request_to_neutral(body: dict[str, Any]) -> Request:
    for name, value in body.items():
        if name not in _MEMBERS and value is not None and _NO_EFFECT.get(name, ()) != value:
            raise Untranslatable(name, "no other provider has it")
    system, messages = [], []
    for i, message in enumerate(body.get("messages") or []):
        role = message.get("role")
        if role in ("system", "developer"):
            parts = _parts(message.get("content"), f"messages[{i}]")
            if not all(isinstance(part, Text) for part in parts):
                raise Untranslatable(f"messages[{i}].content", "a system prompt is text")
            system += parts
        elif role == "tool":
            content = _parts(message.get("content"), f"messages[{i}]")
            messages.append(Message("user", [ToolResult(message.get("tool_call_id") or "",
                                                        content)]))
        elif role in ("user", "assistant"):
            if message.get("function_call"):
                raise Untranslatable(f"messages[{i}].function_call", "use tool_calls")
            parts = _parts(message.get("content"), f"messages[{i}]")
            parts += [ToolCall(call.get("id") or "", call["function"]["name"],
                               call["function"].get("arguments") or "")
                      for call in message.get("tool_calls") or []]
            messages.append(Message(role, parts))
        else:
            raise Untranslatable(f"messages[{i}].role", f"role {role!r}")
    effort = body.get("reasoning_effort")
    stop = body.get("stop")
    return Request(
        model=body.get("model") or "", messages=messages, system=system,
        tools=[_tool(tool, i) for i, tool in enumerate(body.get("tools") or [])],
        tool_choice=_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        temperature=body.get("temperature"), top_p=body.get("top_p"),
        stop=[stop] if isinstance(stop, str) else list(stop or []), n=body.get("n"),
        response_format=body.get("response_format"),
        thinking_budget=EFFORT_BUDGETS.get(effort) if effort else None,
        user=body.get("user"), stream=bool(body.get("stream")))


def _parts(content: Any, where: str) -> list:
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)] if content else []
    parts: list = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind in ("text", "refusal"):
            parts.append(Text(part.get(kind) or ""))
        elif kind == "image_url":
            parts.append(_image(part["image_url"]["url"]))
        else:
            raise Untranslatable(f"{where}.content[{j}].type", f"a {kind!r} part")
    return parts


def _image(url: str) -> Image:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        return Image(media_type=head[5:].split(";")[0] or None, data=data)
    return Image(url=url)


def _tool(tool: dict, index: int) -> Tool:
    if tool.get("type") != "function":
        raise Untranslatable(f"tools[{index}].type", f"a {tool.get('type')!r} tool")
    function = tool["function"]
    return Tool(function["name"], function.get("description"),
                function.get("parameters") or {"type": "object", "properties": {}})


def _choice(choice: Any) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in _CHOICE_MODES:  # a named tool is an object, never a bare string
            raise Untranslatable("tool_choice", f"no tool choice is named {choice!r}")
        return ToolChoice(_CHOICE_MODES[choice])
    return ToolChoice("tool", choice["function"]["name"])


def leaves_out(request: Request) -> set[str]:
    """What of `request` chat completions cannot carry and leave out: thinking (asked for,
    or in earlier turns), and a tool result's error flag (its text goes)."""
    parts = [part for message in request.messages for part in message.parts]
    dropped = set()
    if request.thinking_budget or any(isinstance(part, Thinking) for part in parts):
        dropped.add("thinking")
    if any(isinstance(part, ToolResult) and part.is_error for part in parts):
        dropped.add("tool_result.is_error")
    return dropped


def request_from_neutral(request: Request) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system",
                         "content": "\n\n".join(part.text for part in request.system)})
    for i, message in enumerate(request.messages):
        messages += _messages(message, i)
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.max_tokens is not None:
        body["max_completion_tokens"] = request.max_tokens
    for name in ("temperature", "top_p", "n", "response_format", "user",
                 "parallel_tool_calls"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.stop:
        body["stop"] = request.stop
    if request.tools:
        body["tools"] = [{"type": "function", "function": {
            "name": tool.name, **({"description": tool.description} if tool.description else {}),
            "parameters": tool.parameters}} for tool in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = choice.mode if choice.mode != "tool" else {
            "type": "function", "function": {"name": choice.name}}
    body["stream"] = request.stream
    return body


def _messages(message: Message, index: int) -> list[dict[str, Any]]:
    """One neutral message as OpenAI's: tool results become `tool` messages (first, as
    they answer the previous turn's calls); thinking has no field and is left out."""
    out: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    calls = []
    for part in message.parts:
        if isinstance(part, ToolResult):
            if any(isinstance(item, Image) for item in part.content):
                raise Untranslatable(f"messages[{index}].tool_result.image",
                                     "OpenAI's tool messages carry text only")
            out.append({"role": "tool", "tool_call_id": part.id,
                        "content": "".join(item.text for item in part.content
                                           if isinstance(item, Text))})
        elif isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, Image):
            url = part.url or f"data:{part.media_type};base64,{part.data}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(part, ToolCall):
            calls.append({"id": part.id, "type": "function",
                          "function": {"name": part.name, "arguments": part.arguments}})
    if message.role == "assistant":
        text = "".join(item["text"] for item in content)
        turn: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            turn["tool_calls"] = calls
        return [*out, turn]
    if content:
        only_text = all(item["type"] == "text" for item in content)
        out.append({"role": "user", "content": "".join(item["text"] for item in content)
                    if only_text else content})
    return out


# -- answers --------------------------------------------------------------------------------

def usage_to_neutral(block: dict[str, Any] | None) -> Usage | None:
    if not block:
        return None
    cached = (block.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(input=(block.get("prompt_tokens") or 0) - cached,
                 output=block.get("completion_tokens") or 0, cache_read=cached)


def usage_from_neutral(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt, "completion_tokens": usage.output,
            "total_tokens": usage.prompt + usage.output,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read}}


def answer_to_neutral(raw: dict[str, Any]) -> Answer:
    choices = [_choice_to_neutral(raw, choice) for choice in raw.get("choices") or [{}]]
    answer = choices[0]
    answer.usage, answer.others = usage_to_neutral(raw.get("usage")), choices[1:]
    return answer


def _choice_to_neutral(raw: dict[str, Any], choice: dict[str, Any]) -> Answer:
    message = choice.get("message") or {}
    parts: list = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        parts.append(Thinking(reasoning))
    if message.get("content"):
        parts.append(Text(message["content"]))
    parts += [ToolCall(call.get("id") or "", call["function"]["name"],
                       call["function"].get("arguments") or "")
              for call in message.get("tool_calls") or []]
    return Answer(raw.get("id") or "", raw.get("model") or "", parts,
                  _STOP.get(choice.get("finish_reason") or "", "end"))


def answer_from_neutral(answer: Answer, *, created: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": answer.id, "object": "chat.completion", "created": created, "model": answer.model,
        "choices": [_choice_from_neutral(choice, index)
                    for index, choice in enumerate([answer, *answer.others])]}
    if answer.usage is not None:
        body["usage"] = usage_from_neutral(answer.usage)
    return body


def _choice_from_neutral(answer: Answer, index: int) -> dict[str, Any]:
    text = "".join(part.text for part in answer.parts if isinstance(part, Text))
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    calls = [{"id": part.id, "type": "function",
              "function": {"name": part.name, "arguments": part.arguments}}
             for part in answer.parts if isinstance(part, ToolCall)]
    if calls:
        message["tool_calls"] = calls
    return {"index": index, "message": message,
            "finish_reason": _FINISH.get(answer.stop or "end", "stop")}


# -- streams --------------------------------------------------------------------------------

class StreamDecoder:
    """An upstream's chunks as neutral events (the first choice's). Blocks follow one another:
    text, thinking and each tool call (by its index) open their own."""

    def __init__(self) -> None:
        self.started = False
        self.open: tuple | None = None  # ("text",), ("thinking",) or ("tool", call index)
        self.index = -1
        self.stop: StopReason | None = None
        self.usage: Usage | None = None

    def feed(self, event: str | None, data: str,
             body: dict[str, Any] | None = None) -> list[Event]:
        if data.strip() == "[DONE]":
            return [*self._close(), Finish(self.stop, self.usage), End()]
        body = json.loads(data) if body is None else body
        out: list[Event] = []
        if not self.started:
            self.started = True
            out.append(Start(body.get("id") or "", body.get("model") or ""))
        if body.get("usage"):
            self.usage = usage_to_neutral(body["usage"])
        for choice in body.get("choices") or []:
            if choice.get("index", 0) == 0:
                out += self._choice(choice)
        return out

    def _choice(self, choice: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            out += self._open(("thinking",), BlockStart(0, "thinking"))
            out.append(Delta(self.index, "thinking", reasoning))
        if delta.get("content"):
            out += self._open(("text",), BlockStart(0, "text"))
            out.append(Delta(self.index, "text", delta["content"]))
        for call in delta.get("tool_calls") or []:
            function = call.get("function") or {}
            key = ("tool", call.get("index", 0))
            out += self._open(key, BlockStart(0, "tool_call", call.get("id"),
                                              function.get("name")))
            if function.get("arguments"):
                out.append(Delta(self.index, "arguments", function["arguments"]))
        if choice.get("finish_reason"):
            self.stop = _STOP.get(choice["finish_reason"], "end")
            out += self._close()
        return out

    def _open(self, key: tuple, start: BlockStart) -> list[Event]:
        if self.open == key:
            return []
        out = self._close()
        self.open, self.index = key, self.index + 1
        start.index = self.index
        return [*out, start]

    def _close(self) -> list[Event]:
        if self.open is None:
            return []
        self.open = None
        return [BlockStop(self.index)]


class StreamEncoder:
    """Neutral events as chat.completion.chunk frames: the role chunk, content and tool-call
    deltas, the finish chunk, the usage chunk when the client asked for it, `[DONE]`."""

    def __init__(self, *, created: int, include_usage: bool) -> None:
        self.created, self.include_usage = created, include_usage
        self.id = self.model = ""
        self.calls: dict[int, int] = {}  # block index -> tool call index

    def _chunk(self, delta: dict | None, finish: str | None = None) -> tuple[None, dict]:
        choices = [] if delta is None else [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]
        return None, {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                      "model": self.model, "choices": choices}

    def encode(self, event: Event) -> list[tuple[str | None, Any]]:
        if isinstance(event, Start):
            self.id, self.model = event.id, event.model
            return [self._chunk({"role": "assistant", "content": ""})]
        if isinstance(event, BlockStart) and event.kind == "tool_call":
            self.calls[event.index] = number = len(self.calls)
            return [self._chunk({"tool_calls": [{
                "index": number, "id": event.id, "type": "function",
                "function": {"name": event.name, "arguments": ""}}]})]
        if isinstance(event, Delta) and event.kind == "text":
            return [self._chunk({"content": event.value})]
        if isinstance(event, Delta) and event.kind == "arguments":
            return [self._chunk({"tool_calls": [{"index": self.calls[event.index],
                                                 "function": {"arguments": event.value}}]})]
        if isinstance(event, Finish):
            frames: list[tuple[str | None, Any]] = [
                self._chunk({}, _FINISH.get(event.stop or "end", "stop"))]
            if self.include_usage and event.usage is not None:
                _, chunk = self._chunk(None)
                frames.append((None, {**chunk, "usage": usage_from_neutral(event.usage)}))
            return frames
        if isinstance(event, End):
            return [(None, "[DONE]")]
        return []  # thinking has no field here; block starts and stops have no chunk

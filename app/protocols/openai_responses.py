"""OpenAI's Responses API (what Codex CLI speaks), as a client format: its request to the
neutral form, the neutral answer and stream events back as a Response and its SSE events.

Only the client side exists: an account that speaks Responses gets the body as sent
(passthrough), so nothing is ever translated *into* this format.

What is stateless translates: `instructions`, `input` (a string, or message, function_call and
function_call_output items, call ids kept), function tools, `tool_choice`,
`max_output_tokens`, `text.format` (JSON mode), `reasoning.effort` (a thinking budget). What
needs the gateway to keep state (`previous_response_id`, `store: true`, `background`,
`conversation`) and tools only OpenAI runs (web_search, file_search...) are refused by name.
Usage: `input_tokens` includes the cached tokens (`input_tokens_details.cached_tokens`), as in
chat completions. A reasoning summary has no source on a translated path and is dropped.
"""

from __future__ import annotations

from typing import Any

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
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)
from app.protocols.openai_chat import EFFORT_BUDGETS

CARRIES_THINKING = False
# Members whose only values are the ones below ask for nothing a translation would lose.
_NO_EFFECT: dict[str, tuple] = {"store": (False,), "background": (False,),
                                "truncation": ("disabled",), "service_tier": ("auto", "default"),
                                "metadata": ({},)}
_STATEFUL = {"previous_response_id", "conversation", "store", "background"}
# prompt_cache_key and include are hints about OpenAI's own caches and extras: nothing to carry.
_MEMBERS = {"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
            "max_output_tokens", "temperature", "top_p", "text", "reasoning", "stream", "user",
            "prompt_cache_key", "include", "stream_options"}
_INCLUDES = {"reasoning.encrypted_content", "message.output_text.logprobs"}


# -- requests -------------------------------------------------------------------------------

def request_to_neutral(body: dict[str, Any]) -> Request:
    for name, value in body.items():
        if name in _MEMBERS or value is None or value in _NO_EFFECT.get(name, ()):
            continue
        if name in _STATEFUL:
            raise Untranslatable(name, "the gateway keeps no responses or conversations; "
                                       "send the whole conversation in `input`")
        raise Untranslatable(name, "no other provider has it")
    for j, include in enumerate(body.get("include") or []):
        if include not in _INCLUDES:
            raise Untranslatable(f"include[{j}]", f"{include!r} is OpenAI's alone")
    system = [Text(body["instructions"])] if body.get("instructions") else []
    messages = _messages(body.get("input"), system)
    reasoning = body.get("reasoning") or {}
    effort = reasoning.get("effort")
    return Request(
        model=body.get("model") or "", messages=messages, system=system,
        tools=[_tool(tool, i) for i, tool in enumerate(body.get("tools") or [])],
        tool_choice=_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        max_tokens=body.get("max_output_tokens"),
        temperature=body.get("temperature"), top_p=body.get("top_p"),
        response_format=_format(body.get("text")),
        thinking_budget=EFFORT_BUDGETS.get(effort) if effort else None,
        user=body.get("user"), stream=bool(body.get("stream")))


def _messages(items: Any, system: list[Text]) -> list[Message]:
    """The input items as turns: consecutive items of one side share a message (an
    assistant's text and its calls; the tool results that answer them)."""
    if isinstance(items, str):
        return [Message("user", [Text(items)])] if items else []
    messages: list[Message] = []

    def add(role, parts: list) -> None:
        if messages and messages[-1].role == role:
            messages[-1].parts += parts
        elif parts:
            messages.append(Message(role, parts))

    for i, item in enumerate(items or []):
        kind = item.get("type") or "message"
        if kind == "message":
            role = item.get("role")
            parts = _parts(item.get("content"), f"input[{i}]")
            if role in ("system", "developer"):
                if not all(isinstance(part, Text) for part in parts):
                    raise Untranslatable(f"input[{i}].content", "a system prompt is text")
                system += parts
            elif role in ("user", "assistant"):
                add(role, parts)
            else:
                raise Untranslatable(f"input[{i}].role", f"role {role!r}")
        elif kind == "function_call":
            add("assistant", [ToolCall(item.get("call_id") or "", item["name"],
                                       item.get("arguments") or "")])
        elif kind == "function_call_output":
            output = item.get("output")
            content = _parts(output, f"input[{i}].output") if output else []
            add("user", [ToolResult(item.get("call_id") or "", content)])
        else:
            raise Untranslatable(f"input[{i}].type", f"a {kind!r} item")
    return messages


def _parts(content: Any, where: str) -> list:
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)] if content else []
    parts: list = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            parts.append(Text(part.get("text") or ""))
        elif kind == "refusal":
            parts.append(Text(part.get("refusal") or ""))
        elif kind == "input_image" and part.get("image_url"):
            url = part["image_url"]
            if url.startswith("data:"):
                head, _, data = url.partition(",")
                parts.append(Image(media_type=head[5:].split(";")[0] or None, data=data))
            else:
                parts.append(Image(url=url))
        else:
            raise Untranslatable(f"{where}.content[{j}].type",
                                 f"a {kind!r} part" + (" by file_id" if kind == "input_image"
                                                       else ""))
    return parts


def _tool(tool: dict, index: int) -> Tool:
    if tool.get("type") != "function":
        raise Untranslatable(f"tools[{index}].type",
                             f"a {tool.get('type')!r} tool runs at OpenAI only")
    return Tool(tool["name"], tool.get("description"),
                tool.get("parameters") or {"type": "object", "properties": {}})


def _choice(choice: Any) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise Untranslatable("tool_choice", f"{choice!r}")
        return ToolChoice(choice)  # type: ignore[arg-type]
    if choice.get("type") != "function":
        raise Untranslatable("tool_choice.type", f"a {choice.get('type')!r} choice")
    return ToolChoice("tool", choice["name"])


def _format(text: Any) -> dict | None:
    """`text.format` as chat completions' `response_format` (the neutral spelling)."""
    form = (text or {}).get("format") or {}
    kind = form.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {name: form[name] for name in ("name", "description", "schema", "strict")
                  if form.get(name) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise Untranslatable("text.format.type", f"{kind!r}")


def field_named(target_field: str) -> str:
    """The client's name for a member a target refused by its chat-completions name (the
    neutral form's), so the 400 names what the client sent."""
    if target_field == "response_format":
        return "text.format"
    return "input" if target_field.startswith("messages[") else target_field


# -- answers --------------------------------------------------------------------------------

def usage_from_neutral(usage: Usage) -> dict[str, Any]:
    """Responses' usage: the prompt counts the cache read (and any cache write) inside it."""
    return {"input_tokens": usage.prompt,
            "input_tokens_details": {"cached_tokens": usage.cache_read},
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.prompt + usage.output}


def response_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("resp_") else f"resp_{upstream_id}"


def _response(id: str, model: str, created: int, output: list, *, status: str,
              usage: Usage | None = None, incomplete: str | None = None) -> dict[str, Any]:
    return {"id": id, "object": "response", "created_at": created, "status": status,
            "error": None,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": None, "metadata": {}, "model": model, "output": output,
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "temperature": None, "top_p": None, "text": {"format": {"type": "text"}},
            "usage": usage_from_neutral(usage) if usage is not None else None}


def _ending(stop: str | None) -> tuple[str, str | None]:
    """(status, incomplete reason) of a response that stopped for `stop`."""
    if stop == "max_tokens":
        return "incomplete", "max_output_tokens"
    if stop == "refusal":
        return "incomplete", "content_filter"
    return "completed", None


def _text_item(id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": id, "type": "message", "status": status, "role": "assistant",
            "content": content if status == "completed" else []}


def _call_item(call: ToolCall, status: str) -> dict[str, Any]:
    return {"id": f"fc_{call.id}", "type": "function_call", "status": status,
            "call_id": call.id, "name": call.name, "arguments": call.arguments}


def answer_from_neutral(answer: Answer, *, created: int) -> dict[str, Any]:
    """A Response: one message item for the text, one function_call item per call; thinking
    has no source for a summary here and is left out."""
    id = response_id(answer.id)
    output: list[dict[str, Any]] = []
    text = "".join(part.text for part in answer.parts if isinstance(part, Text))
    if text:
        output.append(_text_item(f"msg_{id.removeprefix('resp_')}", text, "completed"))
    output += [_call_item(part, "completed") for part in answer.parts
               if isinstance(part, ToolCall)]
    status, incomplete = _ending(answer.stop)
    return _response(id, answer.model, created, output, status=status, usage=answer.usage,
                     incomplete=incomplete)


# -- streams --------------------------------------------------------------------------------

class StreamEncoder:
    """Neutral events as Responses SSE events, numbered by `sequence_number`: created and
    in_progress; per text block an output message item (item added, content part added,
    text deltas, text done, part done, item done); per tool call a function_call item
    (added, argument deltas, arguments done, item done); and `response.completed` (or
    `response.incomplete`) with the whole output and the usage, on the stream's end."""

    def __init__(self, *, created: int, include_usage: bool = True) -> None:
        self.created = created
        self.sequence = 0
        self.id = self.model = ""
        self.output: list[dict[str, Any]] = []
        self.blocks: dict[int, dict[str, Any]] = {}  # neutral block index -> its open item
        self.finish: Finish | None = None

    def _event(self, kind: str, **members: Any) -> tuple[str, dict]:
        event = {"type": kind, "sequence_number": self.sequence, **members}
        self.sequence += 1
        return kind, event

    def _snapshot(self, status: str, **more: Any) -> dict[str, Any]:
        return _response(self.id, self.model, self.created, list(self.output), status=status,
                         **more)

    def encode(self, event: Event) -> list[tuple[str | None, Any]]:
        if isinstance(event, Start):
            self.id, self.model = response_id(event.id), event.model
            return [self._event("response.created", response=self._snapshot("in_progress")),
                    self._event("response.in_progress",
                                response=self._snapshot("in_progress"))]
        if isinstance(event, BlockStart):
            return self._start(event)
        if isinstance(event, Delta) and event.index in self.blocks:
            return self._delta(self.blocks[event.index], event.value)
        if isinstance(event, BlockStop) and event.index in self.blocks:
            return self._stop(self.blocks.pop(event.index))
        if isinstance(event, Finish):
            self.finish = event
            return []
        if isinstance(event, End):
            finish = self.finish or Finish(None)
            status, incomplete = _ending(finish.stop)
            response = self._snapshot(status, usage=finish.usage, incomplete=incomplete)
            return [self._event(f"response.{status}", response=response)]
        return []  # thinking: no summary to give

    def _start(self, event: BlockStart) -> list[tuple[str | None, Any]]:
        index = len(self.output)
        if event.kind == "text":
            item = _text_item(f"msg_{self.id.removeprefix('resp_')}_{index}", "", "in_progress")
            block = {"item": item, "index": index, "text": ""}
            self.output.append(item)
            self.blocks[event.index] = block
            return [self._event("response.output_item.added", output_index=index,
                                item={**item}),
                    self._event("response.content_part.added", item_id=item["id"],
                                output_index=index, content_index=0,
                                part={"type": "output_text", "text": "", "annotations": []})]
        if event.kind == "tool_call":
            item = _call_item(ToolCall(event.id or "", event.name or "", ""), "in_progress")
            self.output.append(item)
            self.blocks[event.index] = {"item": item, "index": index}
            return [self._event("response.output_item.added", output_index=index,
                                item={**item})]
        return []

    def _delta(self, block: dict[str, Any], value: str) -> list[tuple[str | None, Any]]:
        item = block["item"]
        if item["type"] == "message":
            block["text"] += value
            return [self._event("response.output_text.delta", item_id=item["id"],
                                output_index=block["index"], content_index=0, delta=value,
                                logprobs=[])]
        item["arguments"] += value
        return [self._event("response.function_call_arguments.delta", item_id=item["id"],
                            output_index=block["index"], delta=value)]

    def _stop(self, block: dict[str, Any]) -> list[tuple[str | None, Any]]:
        item, index = block["item"], block["index"]
        if item["type"] == "message":
            done = _text_item(item["id"], block["text"], "completed")
            self.output[index] = done
            part = done["content"][0]
            return [self._event("response.output_text.done", item_id=item["id"],
                                output_index=index, content_index=0, text=block["text"],
                                logprobs=[]),
                    self._event("response.content_part.done", item_id=item["id"],
                                output_index=index, content_index=0, part=part),
                    self._event("response.output_item.done", output_index=index, item=done)]
        done = {**item, "status": "completed"}
        self.output[index] = done
        return [self._event("response.function_call_arguments.done", item_id=item["id"],
                            output_index=index, name=item["name"],
                            arguments=item["arguments"]),
                self._event("response.output_item.done", output_index=index, item=done)]

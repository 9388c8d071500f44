"""Gemini generateContent: request, answer and stream chunks to and from the neutral form.

Tool calls: Gemini's function calls carry no id (a `functionResponse` answers the call of its
name), so ids are made reversibly: a call in a Gemini request or answer keeps the `id` it has,
else gets one from its place (`call_<turn>_<part>`, or the answer's `responseId` and number);
a response takes the oldest unanswered call of its name. Going to Gemini the ids are left out
and each tool result is named after the call with its id, so a client's own ids survive the
round trip. Usage: `promptTokenCount` includes `cachedContentTokenCount` (the neutral input
is the prompt less the cache) and the thoughts (`thoughtsTokenCount`) are billed as output, as
app/providers/gemini.py's `gemini_usage` counts them. Thinking: `thought: true` parts and the
`thoughtSignature` a part may carry (a signature on a call or text becomes an empty signed
thinking part before it, so a client with a field for thinking can hand it back). Gemini-only
members (`safetySettings`, `cachedContent`, server tools, `topK`...) are refused by name, and
so is what Gemini cannot take (one call at a time, more than five stop sequences).
"""

from __future__ import annotations

import json
import mimetypes
import uuid
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
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)

CARRIES_THINKING = True
# Anthropic's redacted (encrypted) thinking, carried to a Gemini client as a signature only
REDACTED = "redacted:"
MAX_STOP_SEQUENCES = 5
_STOP = {"STOP": "end", "MAX_TOKENS": "max_tokens", "SAFETY": "refusal",
         "RECITATION": "refusal", "LANGUAGE": "refusal", "BLOCKLIST": "refusal",
         "PROHIBITED_CONTENT": "refusal", "SPII": "refusal", "IMAGE_SAFETY": "refusal"}
_FINISH = {"end": "STOP", "stop_sequence": "STOP", "tool_use": "STOP",
           "max_tokens": "MAX_TOKENS", "refusal": "SAFETY"}
_MODES = {"AUTO": "auto", "ANY": "required", "NONE": "none"}
_MODE_NAMES = {"auto": "AUTO", "required": "ANY", "tool": "ANY", "none": "NONE"}
# `stream` is no member of Gemini's: the route sets it from the URL (streamGenerateContent).
_MEMBERS = {"model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
            "stream"}
_CONFIG = {"maxOutputTokens", "temperature", "topP", "stopSequences", "candidateCount",
           "responseMimeType", "responseSchema", "responseJsonSchema", "thinkingConfig"}
# thinkingLevel / a dynamic budget (-1) -> the budget asked of a provider that needs a number
_LEVEL_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
DYNAMIC_BUDGET = 4096


# -- requests -------------------------------------------------------------------------------

def request_to_neutral(body: dict[str, Any]) -> Request:
    for name, value in body.items():
        if name not in _MEMBERS and value is not None:
            raise Untranslatable(name, "no other provider has it")
    config = body.get("generationConfig") or {}
    for name, value in config.items():
        if name not in _CONFIG and value is not None:
            raise Untranslatable(f"generationConfig.{name}", "no other provider has it")
    system = []
    for j, part in enumerate((body.get("systemInstruction") or {}).get("parts") or []):
        if set(part) - {"text"}:
            raise Untranslatable(f"systemInstruction.parts[{j}]", "a system prompt is text")
        system.append(Text(part.get("text") or ""))
    stop = config.get("stopSequences") or []
    tools, choice = _tools_to_neutral(body)
    return Request(
        model=(body.get("model") or "").removeprefix("models/"),
        messages=_contents_to_neutral(body.get("contents") or []), system=system,
        tools=tools, tool_choice=choice, max_tokens=config.get("maxOutputTokens"),
        temperature=config.get("temperature"), top_p=config.get("topP"), stop=list(stop),
        n=config.get("candidateCount"), response_format=_format_to_neutral(config),
        thinking_budget=_budget(config.get("thinkingConfig") or {}),
        stream=bool(body.get("stream")))


def _contents_to_neutral(contents: list[dict[str, Any]]) -> list[Message]:
    messages: list[Message] = []
    unanswered: dict[str, list[str]] = {}  # function name -> ids of its calls, oldest first
    for i, content in enumerate(contents):
        parts: list = []
        for j, part in enumerate(content.get("parts") or []):
            where = f"contents[{i}].parts[{j}]"
            signature = part.get("thoughtSignature")
            if part.get("thought") and signature and signature.startswith(REDACTED):
                parts.append(Thinking(redacted=signature.removeprefix(REDACTED)))
                continue
            if part.get("thought"):
                # A streamed thought comes in pieces; its signature rides on one of them.
                if parts and isinstance(parts[-1], Thinking) and not parts[-1].signature:
                    parts[-1].text += part.get("text") or ""
                    parts[-1].signature = signature
                else:
                    parts.append(Thinking(part.get("text") or "", signature))
                continue
            if signature:
                parts.append(Thinking("", signature))
            if "text" in part:
                if part["text"]:
                    parts.append(Text(part["text"]))
            elif "inlineData" in part or "fileData" in part:
                parts.append(_image_to_neutral(part, where))
            elif "functionCall" in part:
                call = part["functionCall"]
                call_id = call.get("id") or f"call_{i}_{j}"
                unanswered.setdefault(call["name"], []).append(call_id)
                parts.append(ToolCall(call_id, call["name"],
                                      json.dumps(call.get("args") or {}, ensure_ascii=False)))
            elif "functionResponse" in part:
                parts.append(_result_to_neutral(part["functionResponse"], unanswered, where))
            else:
                raise Untranslatable(where, f"a {next(iter(part), 'empty')!r} part")
        messages.append(Message("assistant" if content.get("role") == "model" else "user",
                                parts))
    return messages


def _image_to_neutral(part: dict[str, Any], where: str) -> Image:
    inline = "inlineData" in part
    data = part["inlineData" if inline else "fileData"]
    media_type = data.get("mimeType")
    if media_type and not media_type.startswith("image/"):
        member = "inlineData" if inline else "fileData"
        raise Untranslatable(f"{where}.{member}.mimeType", f"{media_type!r} is no image")
    if inline:
        return Image(media_type=media_type, data=data.get("data"))
    return Image(media_type=media_type, url=data.get("fileUri"))


def _result_to_neutral(response: dict[str, Any], unanswered: dict[str, list[str]],
                       where: str) -> ToolResult:
    name = response.get("name") or ""
    call_id = response.get("id")
    calls = unanswered.get(name) or []
    if call_id in calls:
        calls.remove(call_id)
    elif not call_id:
        if not calls:
            raise Untranslatable(f"{where}.functionResponse.name",
                                 f"no earlier functionCall of {name!r} to answer")
        call_id = calls.pop(0)
    value = response.get("response") or {}
    # Gemini's own convention: "output" for the result, "error" for a failure.
    if set(value) == {"error"}:
        return ToolResult(call_id, [Text(_text(value["error"]))], is_error=True)
    if set(value) == {"output"}:
        return ToolResult(call_id, [Text(_text(value["output"]))])
    return ToolResult(call_id, [Text(_text(value))])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _tools_to_neutral(body: dict[str, Any]) -> tuple[list[Tool], ToolChoice | None]:
    tools = []
    for i, entry in enumerate(body.get("tools") or []):
        for name in entry:
            if name != "functionDeclarations":
                raise Untranslatable(f"tools[{i}].{name}", "Gemini's own tool")
        for j, declaration in enumerate(entry.get("functionDeclarations") or []):
            for name in set(declaration) - {"name", "description", "parameters",
                                            "parametersJsonSchema"}:
                raise Untranslatable(f"tools[{i}].functionDeclarations[{j}].{name}",
                                     "no other provider has it")
            schema = declaration.get("parametersJsonSchema")
            if schema is None:
                schema = _json_schema(declaration.get("parameters") or {"type": "object"})
            tools.append(Tool(declaration["name"], declaration.get("description"), schema))
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    for name in set(body.get("toolConfig") or {}) - {"functionCallingConfig"}:
        raise Untranslatable(f"toolConfig.{name}", "no other provider has it")
    mode, allowed = calling.get("mode") or "AUTO", calling.get("allowedFunctionNames") or []
    if mode not in _MODES:
        raise Untranslatable("toolConfig.functionCallingConfig.mode", f"mode {mode!r}")
    if mode == "ANY" and len(allowed) == 1:
        return tools, ToolChoice("tool", allowed[0])
    if allowed and set(allowed) != {tool.name for tool in tools}:
        raise Untranslatable("toolConfig.functionCallingConfig.allowedFunctionNames",
                             "other providers choose among all the tools or exactly one")
    return tools, ToolChoice(_MODES[mode]) if calling.get("mode") else None  # type: ignore


def _json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-style schema (types in capitals) as JSON Schema."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for name, value in schema.items():
        if name == "type" and isinstance(value, str):
            out[name] = value.lower()
        elif name == "properties" and isinstance(value, dict):
            out[name] = {key: _json_schema(item) for key, item in value.items()}
        elif name in ("items", "anyOf"):
            out[name] = _json_schema(value)
        else:
            out[name] = value
    return out


def _format_to_neutral(config: dict[str, Any]) -> dict[str, Any] | None:
    mime = config.get("responseMimeType")
    schema = config.get("responseJsonSchema")
    if schema is None and config.get("responseSchema") is not None:
        schema = _json_schema(config["responseSchema"])
    if mime in (None, "text/plain") and schema is None:
        return None
    if mime != "application/json":
        raise Untranslatable("generationConfig.responseMimeType", f"{mime!r} answers")
    if schema is None:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _budget(thinking: dict[str, Any]) -> int | None:
    budget = thinking.get("thinkingBudget")
    if thinking.get("thinkingLevel"):
        return _LEVEL_BUDGETS.get(thinking["thinkingLevel"], DYNAMIC_BUDGET)
    if budget == 0 or (budget is None and not thinking.get("includeThoughts")):
        return None
    return budget if budget and budget > 0 else DYNAMIC_BUDGET


def leaves_out(request: Request) -> set[str]:
    """What of `request` Gemini cannot carry and leaves out: unsigned (another provider's)
    thinking, and the end user's id (Gemini has no member for it; it asks for nothing)."""
    dropped = set()
    if any(isinstance(part, Thinking) and not part.signature
           for message in request.messages for part in message.parts):
        dropped.add("thinking")
    if request.user:
        dropped.add("user")
    return dropped


def request_from_neutral(request: Request) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(request.messages)}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": part.text} for part in request.system]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [
            {"name": tool.name, **({"description": tool.description} if tool.description else {}),
             "parametersJsonSchema": tool.parameters} for tool in request.tools]}]
    choice = request.tool_choice
    if request.parallel_tool_calls is False and request.tools and (
            choice is None or choice.mode != "none"):
        raise Untranslatable("parallel_tool_calls", "Gemini cannot be held to one call a turn")
    if choice is not None:
        calling: dict[str, Any] = {"mode": _MODE_NAMES[choice.mode]}
        if choice.mode == "tool":
            calling["allowedFunctionNames"] = [choice.name]
        body["toolConfig"] = {"functionCallingConfig": calling}
    config = _config(request)
    if config:
        body["generationConfig"] = config
    return body


def _config(request: Request) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        # Gemini's thoughts come out of maxOutputTokens; the budget comes on top of the answer.
        config["maxOutputTokens"] = request.max_tokens + (request.thinking_budget or 0)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if getattr(request, ours) is not None:
            config[theirs] = getattr(request, ours)
    if request.stop:
        if len(request.stop) > MAX_STOP_SEQUENCES:
            raise Untranslatable("stop", f"Gemini takes up to {MAX_STOP_SEQUENCES} sequences")
        config["stopSequences"] = request.stop
    if request.n not in (None, 1):
        if request.stream:
            raise Untranslatable("n", "a translated stream carries one choice")
        config["candidateCount"] = request.n
    form = request.response_format or {}
    if form.get("type") == "json_object":
        config["responseMimeType"] = "application/json"
    elif form.get("type") == "json_schema":
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = (form.get("json_schema") or {}).get("schema") or {}
    elif form.get("type", "text") != "text":
        raise Untranslatable("response_format", f"a {form.get('type')!r} format")
    if request.thinking_budget:
        config["thinkingConfig"] = {"thinkingBudget": request.thinking_budget,
                                    "includeThoughts": True}
    return config


def _contents(messages: list[Message]) -> list[dict[str, Any]]:
    """Gemini's turns: neighbours of one role (an OpenAI client's tool messages) become one,
    and each tool result is named after the call it answers."""
    names = {part.id: part.name for message in messages for part in message.parts
             if isinstance(part, ToolCall)}
    contents: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = "model" if message.role == "assistant" else "user"
        parts = _parts(message.parts, names, i)
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"] += parts
        elif parts:
            contents.append({"role": role, "parts": parts})
    return contents


def _parts(parts: list, names: dict[str, str], index: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    signature = None  # a signed empty thinking part: the signature of the part after it
    for part in parts:
        if isinstance(part, Thinking):
            if part.signature and part.text:
                out.append({"text": part.text, "thought": True,
                            "thoughtSignature": part.signature})
            elif part.signature:
                signature = part.signature
            continue  # unsigned (another provider's) thinking is left out (leaves_out)
        piece = _part(part, names, index)
        if piece is None:
            continue
        if signature:
            piece["thoughtSignature"], signature = signature, None
        out.append(piece)
    return out


def _part(part, names: dict[str, str], index: int) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return {"text": part.text} if part.text else None
    if isinstance(part, Image):
        if part.url:
            media_type = part.media_type or mimetypes.guess_type(part.url)[0]
            return {"fileData": {**({"mimeType": media_type} if media_type else {}),
                                 "fileUri": part.url}}
        return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
    if isinstance(part, ToolCall):
        try:
            arguments = json.loads(part.arguments) if part.arguments.strip() else {}
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            raise Untranslatable(f"messages[{index}].tool_calls.arguments",
                                 "Gemini takes a call's arguments as a JSON object")
        return {"functionCall": {"name": part.name, "args": arguments}}
    if part.id not in names:
        raise Untranslatable(f"messages[{index}].tool_result",
                             f"it answers no earlier tool call {part.id!r}, and Gemini names "
                             "the function a result answers")
    if any(isinstance(item, Image) for item in part.content):
        raise Untranslatable(f"messages[{index}].tool_result.image",
                             "Gemini's function responses carry text only")
    text = "".join(item.text for item in part.content)
    return {"functionResponse": {"name": names[part.id], "response": _response(text,
                                                                              part.is_error)}}


def _response(text: str, is_error: bool) -> dict[str, Any]:
    if is_error:
        return {"error": text}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"output": text}


# -- answers --------------------------------------------------------------------------------

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
    block: dict[str, int] = {"promptTokenCount": usage.prompt, "candidatesTokenCount": usage.output,
             "totalTokenCount": usage.prompt + usage.output}
    if usage.cache_read:
        block["cachedContentTokenCount"] = usage.cache_read
    return block


def _response_id(raw: dict[str, Any]) -> str:
    return raw.get("responseId") or uuid.uuid4().hex


def answer_to_neutral(raw: dict[str, Any]) -> Answer:
    answer_id = _response_id(raw)
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
                  _stop(candidate.get("finishReason"), calls > 0))


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


def _stop(reason: str | None, called: bool) -> Any:
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
            parts.append({"functionCall": _call(part.id, part.name, part.arguments)})
        else:
            parts.append(_thought(part.text, part.signature) if part.redacted is None
                         else _thought("", REDACTED + part.redacted))
    return {"content": {"role": "model", "parts": parts},
            "finishReason": _FINISH.get(answer.stop or "end"), "index": index}


def _thought(text: str, signature: str | None) -> dict[str, Any]:
    return {"text": text, "thought": True, **({"thoughtSignature": signature}
                                               if signature else {})}


def _call(call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    """A functionCall, its id kept (Gemini has the member; the client hands it back)."""
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        args = None
    if not isinstance(args, dict):
        args = {"_arguments": arguments}
    return {**({"id": call_id} if call_id else {}), "name": name, "args": args}


# -- streams --------------------------------------------------------------------------------

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

    def feed(self, event: str | None, data: str) -> list[Event]:
        if self.ended:
            return []
        body = json.loads(data)
        out: list[Event] = []
        if body.get("usageMetadata"):
            self.usage = usage_to_neutral(body["usageMetadata"])
        if self.id is None:
            self.id = _response_id(body)
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
            out += [*self._close(), Finish(_stop(reason, self.calls > 0), self.usage), End()]
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
                return [self._chunk([_thought(event.value, None)])]
            else:
                return [self._chunk([_thought("", event.value)])]
        elif isinstance(event, BlockStop) and event.index in self.calls:
            return [self._chunk([{"functionCall": _call(*self.calls.pop(event.index))}])]
        elif isinstance(event, Finish):
            self.finish, self.usage = event, event.usage or self.usage
        elif isinstance(event, End):
            stop = self.finish.stop if self.finish else None
            return [self._chunk([{"text": ""}], _FINISH.get(stop or "end"))]
        return []

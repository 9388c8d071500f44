"""A Gemini client's generateContent request as the neutral one: calls get ids from their
place unless they carry one, and each functionResponse answers the oldest unanswered call of
its name; what only Gemini has is refused by name."""

from __future__ import annotations

import json
from typing import Any

from app.protocols import Untranslatable
from app.protocols.gemini_generate.answer import REDACTED
from app.protocols.neutral import (
    Image,
    Message,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

_MODES: dict[str, Any] = {"AUTO": "auto", "ANY": "required", "NONE": "none"}
# `stream` is no member of Gemini's: the route sets it from the URL (streamGenerateContent).
_MEMBERS = {"model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
            "stream"}
_CONFIG = {"maxOutputTokens", "temperature", "topP", "stopSequences", "candidateCount",
           "responseMimeType", "responseSchema", "responseJsonSchema", "thinkingConfig"}
# thinkingLevel / a dynamic budget (-1) -> the budget asked of a provider that needs a number
_LEVEL_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
DYNAMIC_BUDGET = 4096


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
    return tools, ToolChoice(_MODES[mode]) if calling.get("mode") else None


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

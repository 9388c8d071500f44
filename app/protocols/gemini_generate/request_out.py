"""The generateContent body a Gemini account gets for a neutral request: ids left out, each
tool result named after the call it answers, a signature put back on the part it came with."""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from app.protocols import Untranslatable
from app.protocols.neutral import (
    Image,
    Message,
    Request,
    Text,
    Thinking,
    ToolCall,
)

MAX_STOP_SEQUENCES = 5
_MODE_NAMES = {"auto": "AUTO", "required": "ANY", "tool": "ANY", "none": "NONE"}


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
    if signature:
        # Gemini signs an empty text at the end of a turn; it goes back as it came.
        out.append({"text": "", "thoughtSignature": signature})
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
        arguments = part.arguments_object(f"messages[{index}].tool_calls.arguments",
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

"""Token estimates from text, for answers whose provider reported no (final) usage.

About four characters a token, with no tokenizer: nothing is downloaded at run time and one
rule serves every provider. Structured parts count as the JSON they travel as (tool
definitions, tool-call arguments and inputs); ids, binary data and URLs do not count.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from app.providers.base import ChatRequest, Usage

CHARS_PER_TOKEN = 4
# Members the model does not read as text: ids, markers, images and files.
_NOT_TEXT = {"type", "role", "id", "tool_call_id", "tool_use_id", "cache_control", "signature",
             "source", "image_url", "input_audio", "file", "inline_data", "inlineData",
             "file_data", "fileData", "data"}
# Members holding structured values the model reads as JSON.
_AS_JSON = {"input", "args", "arguments", "parameters", "input_schema", "response"}
# Request options that are part of the prompt.
_PROMPT_OPTIONS = ("tools", "functions", "response_format", "tool_choice")


def tokens(chars: int) -> int:
    """Tokens for this many characters, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


def text_chars(value: Any) -> int:
    """Characters of the text in a message, a content, a block or a list of them."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(text_chars(item) for item in value)
    if isinstance(value, dict):
        return sum(json_chars(item) if name in _AS_JSON and not isinstance(item, str)
                   else text_chars(item)
                   for name, item in value.items() if name not in _NOT_TEXT)
    return 0


def json_chars(value: Any) -> int:
    return len(_JSON(value))


# One encoder for every call: json.dumps with options builds a new one each time.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def prompt_tokens(request: ChatRequest) -> int:
    """The whole prompt: system, every message (text and structured blocks) and the tools."""
    chars = text_chars(request.system) + text_chars(request.messages)
    chars += sum(json_chars(request.extra[name]) for name in _PROMPT_OPTIONS
                 if request.extra.get(name))
    return tokens(chars)


class Delivered:
    """Characters of output an answer delivered, over every choice: text, thinking and
    tool-call names and arguments."""

    def __init__(self) -> None:
        self.chars = 0

    def add_text(self, value: Any) -> None:
        """A string, or content blocks by their text."""
        self.chars += len(value) if value.__class__ is str else text_chars(value)

    def add_json(self, value: Any) -> None:
        """Tool input: a string (arguments arrive as JSON text) or an object, as its JSON."""
        if isinstance(value, str):
            self.chars += len(value)
        elif value is not None:
            self.chars += json_chars(value)


def billable(usage: Usage, *, final: bool, delivered_chars: int, prompt: int) -> Usage:
    """What to bill: the provider's usage when it is final; otherwise at least the estimate of
    the prompt (when the provider counted none) and of the delivered output, marked estimated.

    A provisional count (Anthropic's message_start says 1 output token) is never billed alone.
    """
    if final:
        return usage
    return replace(usage, input_tokens=usage.input_tokens if usage.prompt_tokens else prompt,
                   output_tokens=max(usage.output_tokens, tokens(delivered_chars)),
                   estimated=True)

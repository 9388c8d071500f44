"""A client whose protocol is not its account provider's: translated through app/protocols.

The request goes upstream in the provider's own format (as a native body), so the provider's
client reads the usage from its answer exactly as it does for passthrough and the books are
the same; only what the client receives is rewritten: the answer, each stream event, in the
client's format. What one side has no field for (thinking, for an OpenAI chat client) is
named in `dropped`, which the route sends as the `x-relaygate-dropped` header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from app.protocols import (
    Untranslatable,
    anthropic_messages,
    gemini_generate,
    openai_chat,
    openai_responses,
)
from app.protocols.names import ToolNames
from app.protocols.neutral import BlockStart, End, Thinking
from app.providers.base import ProviderError, StreamEvent
from app.services.chat.native import (
    AnthropicNative,
    GeminiNative,
    NativeFormat,
    OpenAINative,
    responses_error,
    wants_usage,
)
from app.services.chat.wire import UsageSummary, sse

# client protocol -> its format; account provider -> the format its accounts speak
CLIENT_FORMATS = {"openai": openai_chat, "anthropic": anthropic_messages,
                  "gemini": gemini_generate, "responses": openai_responses}
PROVIDER_FORMATS = {"claude": anthropic_messages, "openai": openai_chat,
                    "gemini": gemini_generate}


class _ResponsesErrors:
    """A translated Responses stream's error event, numbered after the encoder's last event."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        return responses_error(code, message, self.encoder.sequence)


# client format -> the writer of its error events, given the stream's encoder (only a
# Responses stream numbers its events, so only its writer reads the encoder)
_ERROR_FORMS: dict[ModuleType, Callable[[Any], NativeFormat | _ResponsesErrors]] = {
    openai_chat: lambda encoder: OpenAINative(False),
    anthropic_messages: lambda encoder: AnthropicNative(),
    gemini_generate: lambda encoder: GeminiNative(), openai_responses: _ResponsesErrors}


def translates(protocol: str, provider: str) -> bool:
    return protocol in CLIENT_FORMATS and provider in PROVIDER_FORMATS


@dataclass
class Translation:
    """One request's way there and back: the formats, the tool names, what was dropped."""

    client: ModuleType  # the client's format (app/protocols)
    target: ModuleType  # the provider's
    names: ToolNames
    include_usage: bool
    dropped: set[str] = field(default_factory=set)
    created: int = field(default_factory=lambda: int(time.time()))


def translate_request(protocol: str, provider: str, body: dict) -> tuple[dict, Translation]:
    """The provider's own body for a client's; raises Untranslatable naming a member."""
    client, target = CLIENT_FORMATS[protocol], PROVIDER_FORMATS[provider]
    neutral = client.request_to_neutral(body)
    names = ToolNames()
    names.shorten_request(neutral)
    translation = Translation(client, target, names, include_usage=wants_usage(body),
                              dropped=target.leaves_out(neutral))
    if neutral.thinking_budget and not client.CARRIES_THINKING:
        # Asked for, so announced before a stream starts: the answer's thinking is left out.
        translation.dropped.add("thinking")
    try:
        return target.request_from_neutral(neutral), translation
    except Untranslatable as refused:  # named as the client's format names it, if it differs
        rename = getattr(client, "field_named", None)
        if rename is None:
            raise
        raise Untranslatable(rename(refused.field), refused.why) from refused


class TranslatedFormat:
    """The provider's answer and events in the client's format; the closing events (OpenAI's
    `[DONE]`, Anthropic's `message_stop`) are held until the usage is recorded, as in
    native.py."""

    media_type = "text/event-stream"

    def __init__(self, translation: Translation):
        self.translation = translation
        self.decoder = translation.target.StreamDecoder()
        self.encoder = translation.client.StreamEncoder(
            created=translation.created, include_usage=translation.include_usage)
        # A stream's error event is the client's own (its native format writes it).
        self._errors = _ERROR_FORMS[translation.client](self.encoder)
        self._held = ""

    def event(self, event: StreamEvent) -> str:
        out = ""  # an event makes a frame or two: plain concatenation is the cheapest join
        for neutral in self.decoder.feed(event.event, event.data, event.body):
            if isinstance(neutral, BlockStart):
                self.translation.names.restore(neutral)
            frames = ""
            for name, data in self.encoder.encode(neutral):
                frames += sse(data if isinstance(data, str) else _json(data), name)
            if isinstance(neutral, End):
                self._held += frames
            else:
                out += frames
        return out

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        return self._errors.error(code, message, cause)

    def usage(self, summary: UsageSummary) -> str:
        return ""

    def closing(self) -> str:
        return self._held

    def answer(self, text: str, raw: dict, summary: UsageSummary) -> dict:
        translation = self.translation
        answer = translation.target.answer_to_neutral(raw)
        translation.names.restore(answer)
        if not translation.client.CARRIES_THINKING and any(
                isinstance(part, Thinking) for part in answer.parts):
            translation.dropped.add("thinking")
        return translation.client.answer_from_neutral(answer, created=translation.created)


# One encoder for every frame: json.dumps with options builds a new one on each call.
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

"""A client speaking its provider's own protocol: the answer relayed exactly as it came.

Each upstream SSE event goes out as it arrives (thinking, signatures, tool-call deltas and all);
a JSON answer is the upstream's own. Only two things are the gateway's: an upstream failure
after the first byte ends the stream with the protocol's own error event, and the usage chunk
an OpenAI stream is made to send is kept back from a client that did not ask for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from app.db.models import Account
from app.providers import anthropic, gemini, openai
from app.providers.base import ProviderError, StreamEvent
from app.providers.responses_api import FINAL_EVENTS
from app.providers.streaming import event_json
from app.services.chat.wire import UsageSummary, sse

# client protocol -> the providers all of whose accounts speak it
PROTOCOL_PROVIDERS: dict[str, tuple[str, ...]] = {"anthropic": ("claude",), "openai": ("openai",),
                                                  "gemini": ("gemini",), "responses": ()}

# (client protocol, provider) -> which of the provider's accounts speak it too, known per
# account as the call starts: the OpenAI-compatible ones flagged `supports_responses` serve
# Responses (the others get its translation)
SPOKEN_BY_SOME: dict[tuple[str, str], Callable[[Account], bool]] = {
    ("responses", "openai"): lambda account: bool(account.supports_responses)}


def speaks(protocol: str, provider: str, account: Account) -> bool:
    """Whether `account` (one of `provider`'s) takes a body in the client's protocol as sent."""
    if provider in PROTOCOL_PROVIDERS[protocol]:
        return True
    some = SPOKEN_BY_SOME.get((protocol, provider))
    return some is not None and some(account)


def _status(code: str, cause: ProviderError | None) -> int:
    if cause is not None and cause.kind == "rate_limited":
        return 429
    if cause is not None and cause.status == 529:
        return 529
    return 400 if code == "UPSTREAM_BAD_REQUEST" else 500


class NativeFormat:
    """Each upstream event as it came; the closing one is sent after the usage is recorded
    (`closing`), so a client that has seen the end of its answer finds it on its key's books."""

    media_type = "text/event-stream"

    def __init__(self) -> None:
        self._held = ""

    def event(self, event: StreamEvent) -> str:
        if self.closes(event):
            self._held += sse(event.data, event.event)
            return ""
        return sse(event.data, event.event)

    @staticmethod
    def closes(event: StreamEvent) -> bool:
        raise NotImplementedError

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        raise NotImplementedError

    def usage(self, summary: UsageSummary) -> str:
        return ""

    def closing(self) -> str:
        return self._held

    def answer(self, text: str, raw: dict, summary: UsageSummary) -> dict:
        return raw


class AnthropicNative(NativeFormat):
    """Anthropic Messages, `message_start` to `message_stop`, as the Claude account sent it."""

    @staticmethod
    def closes(event: StreamEvent) -> bool:
        return event.event == "message_stop"

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        body = anthropic.error_body(_status(code, cause), f"{message} ({code})")
        return sse(json.dumps(body), "error")


class OpenAINative(NativeFormat):
    """OpenAI chat.completion(.chunk)s, as the OpenAI-compatible account sent them."""

    def __init__(self, client_wants_usage: bool) -> None:
        super().__init__()
        self.client_wants_usage = client_wants_usage

    def event(self, event: StreamEvent) -> str:
        if event.usage is not None and not self.client_wants_usage \
                and openai.is_usage_chunk(event.data):
            return ""
        return super().event(event)

    @staticmethod
    def closes(event: StreamEvent) -> bool:
        return event.data.strip() == "[DONE]"

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        return sse(json.dumps(openai.error_body(_status(code, cause), message, code)))


class ResponsesNative(NativeFormat):
    """OpenAI Responses events, `response.created` to `response.completed`, as the account
    sent them; a failure after the first byte is the Responses `error` event."""

    def __init__(self) -> None:
        super().__init__()
        self.sequence = 0

    def event(self, event: StreamEvent) -> str:
        self.sequence += 1
        return super().event(event)

    @staticmethod
    def closes(event: StreamEvent) -> bool:
        return event.event in FINAL_EVENTS

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        return responses_error(code, message, self.sequence)


def responses_error(code: str, message: str, sequence: int) -> str:
    return sse(json.dumps({"type": "error", "code": code, "message": message, "param": None,
                           "sequence_number": sequence}), "error")


class GeminiNative(NativeFormat):
    """Gemini's GenerateContentResponse chunks, as the Gemini account sent them. Gemini has no
    end-of-stream marker: the chunk giving a finish reason is the last (it carries the final
    usage), so it is the one held, with anything after it."""

    def event(self, event: StreamEvent) -> str:
        if self._held:
            self._held += sse(event.data, event.event)
            return ""
        return super().event(event)

    @staticmethod
    def closes(event: StreamEvent) -> bool:
        return gemini.finishes(event.body if event.body is not None else event_json(event.data))

    def error(self, code: str, message: str, cause: ProviderError | None = None) -> str:
        status = _status(code, cause)
        return sse(json.dumps(gemini.error_body(503 if status == 529 else status, message,
                                                code)))


def wants_usage(body: dict) -> bool:
    """Whether an OpenAI client asked for its stream's usage chunk itself."""
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))

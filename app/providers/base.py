"""Types shared by every upstream client: requests, results, stream events, usage and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# `request_too_large` and `bad_request` are the caller's own request (no other account would
# take it); `rate_limited`, `auth`, `upstream_error`, `timeout` and `connection` are the account's.
ErrorKind = Literal[
    "rate_limited", "auth", "bad_request", "request_too_large", "upstream_error", "timeout",
    "connection",
]


@dataclass(frozen=True)
class ProviderAccount:
    """Where and as whom a client talks to one upstream; a proxy URL may carry user:pass."""

    base_url: str | None = None
    api_key: str | None = None
    access_token: str | None = None
    proxy: str | None = None
    connect_timeout: float = 10.0
    # Read timeout is the longest silence between two chunks, not a cap on the whole answer.
    read_timeout: float = 600.0
    # An OpenAI-compatible upstream that also serves the Responses API (/responses).
    supports_responses: bool = False


@dataclass
class ChatRequest:
    """One chat call in neutral form; `extra` keys are merged into the provider payload as-is.

    `stream` records the caller's choice; `complete()` and `stream()` set the wire flag themselves.
    """

    model: str
    messages: list[dict[str, Any]]
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stream: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # A client speaking the provider's own protocol: its body goes upstream as sent (only the
    # gateway's own members replaced), with the client headers it may forward.
    native: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A client's Responses API body: sent as-is (but for `model` and `stream`) to an account
    # that speaks it; any other account gets `native` (its translation) instead.
    responses: dict[str, Any] | None = None


@dataclass
class Usage:
    """Token counts in four disjoint buckets, so each bucket can carry its own price.

    `input_tokens` never includes cached tokens, whatever the provider's own convention: OpenAI's
    and Gemini's prompt counts include cache reads, so their clients subtract them.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    # The part of cache_write_tokens written for an hour (Anthropic's 1h TTL), priced apart.
    cache_write_1h_tokens: int = 0
    # True when the gateway estimated counts the provider did not (finally) report.
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass
class ChatResult:
    """`text` is the first choice's answer; `delivered_chars` counts every choice's text,
    thinking and tool calls, for an estimate when `usage_final` is False (none reported)."""

    text: str
    usage: Usage
    raw: dict[str, Any]
    usage_final: bool = True
    delivered_chars: int = 0


@dataclass
class StreamEvent:
    """One upstream SSE event; `data` is byte-for-byte what the upstream sent, for relaying.

    `usage` is set only on events that carried usage, and holds the running total after them.
    `body` is `data`'s JSON object as the provider's parser read it (None for a non-JSON
    marker such as OpenAI's `[DONE]`), so whoever reads the event next need not parse it again;
    it is shared, never to be changed.
    """

    data: str
    event: str | None = None
    text: str = ""
    usage: Usage | None = None
    body: dict[str, Any] | None = None


class ProviderError(Exception):
    """An upstream failure in one shape for every provider, so callers can fail over uniformly."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.reset_at = reset_at

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind!r}, status={self.status!r}, message={self.message!r})"
        )

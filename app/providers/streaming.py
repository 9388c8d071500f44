"""Relay an upstream SSE body event by event, keeping the usage seen so far."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from app.providers.base import ProviderError, StreamEvent, Usage
from app.providers.errors import error_from_transport
from app.providers.estimate import Delivered


class EventParser:
    """Provider-specific reading of one SSE event (`parse`, in each provider's subclass); raises
    ProviderError for error events.

    `usage` is the latest count the provider sent, `usage_final` whether it is the answer's
    final one; `finished` whether the provider's last event has come (a stream ending before
    it was cut); `delivered` counts every choice's text, thinking and tool input parsed so far.
    """

    def __init__(self) -> None:
        self.usage = Usage()
        self.finished = False
        self.usage_final = False
        self.delivered = Delivered()

    def parse(self, event: str | None, data: str) -> StreamEvent:
        raise NotImplementedError

    def counted(self, usage: Usage, *, final: bool) -> Usage:
        """The provider's newest count, which replaces the last (`final`: the answer's own)."""
        self.usage, self.usage_final = usage, final
        return usage


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str | None, str]]:
    """(event name, data) pairs from SSE lines, per the WHATWG event-stream rules we rely on."""
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    # Some upstreams end the body without the blank line that closes the last event.
    if data:
        yield event, "\n".join(data)


class ProviderStream:
    """Iterate for StreamEvents as they arrive; `close()` drops the upstream connection at once.

    `usage`, `text` and `delivered_chars` always hold what arrived so far, so a caller whose
    own client went away can still record what was spent.
    """

    def __init__(self, response: httpx.Response, parser: EventParser) -> None:
        self.response = response
        self._parser = parser
        # Parts, not one growing string: long answers would make += copy quadratically.
        self._text_parts: list[str] = []
        self.closed = False

    @property
    def usage(self) -> Usage:
        return self._parser.usage

    @property
    def usage_final(self) -> bool:
        return self._parser.usage_final

    @property
    def delivered_chars(self) -> int:
        return self._parser.delivered.chars

    @property
    def text(self) -> str:
        return "".join(self._text_parts)

    def __iter__(self) -> Iterator[StreamEvent]:
        if self.closed:
            return
        try:
            for event_name, data in iter_sse(self.response.iter_lines()):
                event = self._parser.parse(event_name, data)
                self._text_parts.append(event.text)
                yield event
        except httpx.StreamClosed:
            return
        except httpx.TransportError as exc:
            if self.closed:
                return
            raise error_from_transport(exc) from exc
        finally:
            was_closed = self.closed
            self.close()
        if not self._parser.finished and not was_closed:
            raise ProviderError("connection", "upstream stream ended before its final event")

    def close(self) -> None:
        self.closed = True
        self.response.close()

    def interrupt(self) -> None:
        """From another thread: end the iteration now, even a read waiting for the upstream
        (shutting the socket down wakes it; closing alone would not). The reader closes."""
        self.closed = True
        network = self.response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> ProviderStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def event_json(data: str) -> dict[str, Any]:
    """The JSON object in an event's data; anything else means the upstream broke its format."""
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderError("upstream_error", f"upstream sent an unreadable event: {data[:200]}")
    return body

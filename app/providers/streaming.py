"""Relay an upstream SSE body event by event, keeping the usage seen so far."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from app.providers.base import ProviderError, StreamEvent, Usage
from app.providers.direct_response import UpstreamResponse
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


class SSEDecoder:
    """(event name, data) pairs from an SSE body's bytes, chunk by chunk, per the WHATWG
    event-stream rules we rely on.

    Lines end at CR, LF or CRLF and nowhere else (a JSON string may hold U+2028, which ends
    no SSE line); each line is cut in bytes (those bytes never occur inside a UTF-8 character)
    and only the data and event values are decoded, invalid UTF-8 becoming U+FFFD.
    """

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # the line begun in earlier chunks
        self._after_cr = False  # the last chunk ended in CR: a LF opening the next is its CRLF
        self._event: bytes | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, str]]:
        if self._after_cr:
            self._after_cr = False
            chunk = chunk[1:] if chunk[:1] == b"\n" else chunk
        if b"\r" in chunk:
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            if chunk:
                self._partial.append(chunk)
            return []
        lines = chunk.split(b"\n")
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
        rest = lines.pop()
        self._partial = [rest] if rest else []
        return self._lines(lines)

    def flush(self) -> list[tuple[str | None, str]]:
        """At the body's end: some upstreams end it without the blank line closing the last
        event."""
        lines = [b"".join(self._partial)] if self._partial else []
        self._partial = []
        return self._lines([*lines, b""])

    def _lines(self, lines: list[bytes]) -> list[tuple[str | None, str]]:
        events: list[tuple[str | None, str]] = []
        for line in lines:
            if not line:
                if self._data:
                    event = self._event
                    events.append((None if event is None else event.decode("utf-8", "replace"),
                                   b"\n".join(self._data).decode("utf-8", "replace")))
                self._event, self._data = None, []
            elif line[0] != 58:  # b":" opens a comment
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    self._data.append(value)
                elif name == b"event":
                    self._event = value
        return events


def iter_sse(chunks: Iterable[bytes]) -> Iterator[tuple[str | None, str]]:
    """(event name, data) pairs from an SSE body's chunks of bytes (see SSEDecoder)."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()


class ProviderStream:
    """Iterate for StreamEvents as they arrive; `close()` drops the upstream connection at once.

    `usage`, `text` and `delivered_chars` always hold what arrived so far, so a caller whose
    own client went away can still record what was spent.
    """

    def __init__(self, response: UpstreamResponse, parser: EventParser) -> None:
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
            for event_name, data in iter_sse(self._body()):
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

    def _body(self) -> Iterator[bytes]:
        """The body's bytes as they arrive, unpacked when the upstream compressed them."""
        if self.response.headers.get("content-encoding", "identity") == "identity":
            return self.response.iter_raw()
        return self.response.iter_bytes()

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

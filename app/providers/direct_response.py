"""An upstream's answer on one DirectPool connection: status and headers as soon as they arrive,
the body whole (`read`) or as it comes (`iter_raw`), framed by llhttp (httptools, uvicorn's
parser). Failures are httpx's exception types, so every caller handles one set of them."""

from __future__ import annotations

import codecs
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httptools
import httpx

_READ_SIZE = 65536


class Connection:
    """One socket to an origin (`key`: scheme, host, port), which it may serve again."""

    __slots__ = ("sock", "key", "idle_since", "_timeout")

    def __init__(self, sock: socket.socket, key: tuple, timeout: float | None) -> None:
        self.sock, self.key, self.idle_since = sock, key, 0.0
        self._timeout = timeout  # what the socket is set to: setting it costs a system call

    def get_extra_info(self, name: str) -> Any:
        """As httpcore's network streams answer it (ProviderStream.interrupt asks)."""
        return self.sock if name == "socket" else None

    def send(self, data: bytes, timeout: float | None) -> None:
        try:
            if timeout != self._timeout:
                self.sock.settimeout(timeout)
                self._timeout = timeout
            self.sock.sendall(data)
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc)) from exc

    def receive(self, timeout: float | None) -> bytes:
        try:
            if timeout != self._timeout:
                self.sock.settimeout(timeout)
                self._timeout = timeout
            return self.sock.recv(_READ_SIZE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc

    def close(self) -> None:
        self.sock.close()


class DirectResponse:
    """The parts of httpx.Response the provider clients use, read off a Connection.

    The connection goes back to its pool (`release(connection, reusable)`) once the body has
    been read to its end, and is closed when the answer is closed before that; it is reused
    only when the upstream kept it alive and sent nothing past the answer.
    """

    def __init__(self, connection: Connection, release: Callable[[Connection, bool], None],
                 read_timeout: float | None) -> None:
        self._connection: Connection | None = connection
        self._release = release
        self._timeout = read_timeout
        self._parser = httptools.HttpResponseParser(self)
        self._raw: list[tuple[bytes, bytes]] = []
        self._reason = b""
        self._chunks: list[bytes] = []
        self._headers_done = self._complete = self._informational = False
        self._received = self._extra = self._keep_alive = False
        self._content: bytes | None = None
        self._headers: dict[str, str] | None = None
        self.status_code = 0
        self.is_closed = False
        self.extensions = {"network_stream": connection}

    # llhttp's callbacks, called from feed_data.
    def on_message_begin(self) -> None:
        self._extra = self._complete  # an answer after ours: the connection is not to be trusted

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._complete:
            self._raw.append((name, value))

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        status = self._parser.get_status_code()
        if status < 200:  # 1xx: an interim answer (100 Continue), the real one follows
            self._informational = True
        else:
            self.status_code, self._headers_done = status, True
            # Asked now: llhttp forgets the answer's framing once its message is complete.
            self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if not self._complete:
            self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational, self._raw, self._reason = False, [], b""
        else:
            self._complete = True

    def read_head(self) -> None:
        while not self._headers_done:
            self._pull()

    def _pull(self) -> None:
        """One read from the socket into the parser. The connection's end ends the body only
        when the answer said it would (no length, not chunked)."""
        if self._connection is None:
            raise httpx.StreamClosed()
        data = self._connection.receive(self._timeout)
        if data:
            self._received = True
            try:
                self._parser.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
                if not self._complete:
                    raise httpx.RemoteProtocolError(f"the upstream broke HTTP/1.1: {exc}") from exc
                self._extra = True
        elif self._headers_done and self._ends_at_close():
            self._complete = self._extra = True
        elif not self._received:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        else:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body")

    def _ends_at_close(self) -> bool:
        for name, value in self._raw:
            lowered = name.lower()
            if lowered == b"content-length" or (lowered == b"transfer-encoding"
                                                and b"chunked" in value.lower()):
                return False
        return self.status_code not in (204, 304)

    def _done(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._release(connection, self._keep_alive and not self._extra)

    def read(self) -> bytes:
        if self._content is None:
            try:
                while not self._complete:
                    self._pull()
            except BaseException:
                self.close()
                raise
            body, self._chunks = b"".join(self._chunks), []
            self._done()
            self._content = _decoded(body, self._content_encoding())
        return self._content

    def iter_raw(self) -> Iterator[bytes]:
        """The body's bytes as they arrive, as the upstream sent them (one piece per read)."""
        if self.is_closed:
            raise httpx.StreamClosed()
        while True:
            if self._chunks:
                chunks, self._chunks = self._chunks, []
                yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if self._complete:
                break
            self._pull()
        self._done()

    def iter_bytes(self) -> Iterator[bytes]:
        """The body as it arrives, unpacked by httpx's own decoders when it came compressed."""
        encoding = self._content_encoding()
        if not encoding:
            return self.iter_raw()
        unpacking = httpx.Response(self.status_code, headers={"content-encoding": encoding},
                                   stream=_RawBody(self))
        return unpacking.iter_bytes()

    def close(self) -> None:
        self.is_closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            self._release(connection, False)

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; a header sent several times, its values joined as httpx does."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self._raw:
                name, value = raw_name.decode("latin-1").lower(), _text(raw_value)
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._headers = headers
        return self._headers

    @property
    def reason_phrase(self) -> str:
        return self._reason.decode("ascii", errors="ignore")

    @property
    def is_error(self) -> bool:
        return self.status_code >= 400

    @property
    def content(self) -> bytes:
        return self.read()

    @property
    def text(self) -> str:
        return self.read().decode(_charset(self.headers.get("content-type", "")), "replace")

    def json(self) -> Any:
        return json.loads(self.read())

    def _content_encoding(self) -> str:
        """The Content-Encoding the body came in, "" for none (identity)."""
        values = [value for name, value in self._raw if name.lower() == b"content-encoding"]
        encoding = b", ".join(values).decode("latin-1").strip()
        return "" if encoding.lower() in ("", "identity") else encoding


# What an upstream call answers: httpx's response through a proxy, ours when direct.
UpstreamResponse = httpx.Response | DirectResponse


class _RawBody(httpx.SyncByteStream):
    def __init__(self, response: DirectResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        return self._response.iter_raw()

    def close(self) -> None:
        self._response.close()


def _decoded(body: bytes, encoding: str) -> bytes:
    """The body unpacked as httpx unpacks it (gzip, deflate, and br or zstd where installed)."""
    if not encoding:
        return body
    return httpx.Response(200, headers={"content-encoding": encoding}, content=body).content


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _charset(content_type: str) -> str:
    """The Content-Type's charset when Python knows it, else UTF-8 (httpx's default)."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                break
    return "utf-8"

"""Keep-alive HTTP/1.1 connections to the upstreams an account reaches directly (no proxy).

The request's bytes are the ones httpx's client would write (`request_head`), sent in one
piece, and the answer is framed by llhttp (direct_response.py): the same exchange for a fraction
of the CPU that h11's event machine, httpcore's pool and checks and httpx's models spend on
every call and every streamed chunk. Timeouts, limits, TLS verification and the exception
types are httpx's; proxied accounts keep httpx (http_pool.py), which speaks to the proxies.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
import time

import httpx

from app.providers.direct_response import Connection, DirectResponse

# (connect, read, write, pool) seconds, as httpx.Timeout holds them; None waits forever.
Timeouts = tuple[float | None, float | None, float | None, float | None]

# What h11 lets a client write (its token and field-value grammar), joined by NUL: a value
# carrying CR, LF or NUL would smuggle a header, and one with spaces around it h11 refuses too.
_NAMES = re.compile(rb"(?:[-!#$%&'*+.^_`|~0-9a-zA-Z]+(?:\x00[-!#$%&'*+.^_`|~0-9a-zA-Z]+)*)?")
_VALUE = rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?"
_VALUES = re.compile(_VALUE + rb"(?:\x00" + _VALUE + rb")*")
_DEFAULT_PORTS = {b"http": 80, b"https": 443}


def request_head(defaults: list[tuple[bytes, bytes]], url: httpx.URL, headers: dict[str, str],
                 length: int) -> bytes:
    """The request line and headers of a POST of `length` bytes, as httpx's client writes them
    (see http_pool.prepared_request): Host first, the client's default headers unless ours
    name them, ours, then Content-Length. A value outside ASCII raises UnicodeEncodeError, one
    h11 would refuse to write httpx.LocalProtocolError, as they do through httpx."""
    # An account's requests repeat the same address and headers (its credential, the client's
    # User-Agent): the head up to Content-Length is written and checked once for each.
    known = (id(defaults), id(url), *headers.items())
    found = _HEADS.get(known)
    if found is None or found[0] is not defaults or found[1] is not url:
        found = (defaults, url, *_head_without_length(defaults, url, headers))
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[known] = found
    _, _, head, sized = found
    if not sized:
        return head + b"\r\n"
    return b"%sContent-Length: %d\r\n\r\n" % (head, length)


# (ids of the defaults and of the address, header pairs...) -> (the defaults, the address, the
# head without its end, and whether Content-Length goes in it): the two kept so that an id
# reused by another object is told apart (an httpx.URL hashes by its text, built anew each time).
_HEADS: dict[tuple, tuple[list[tuple[bytes, bytes]], httpx.URL, bytes, bool]] = {}
_HEADS_MAX = 1024


def _head_without_length(defaults: list[tuple[bytes, bytes]], url: httpx.URL,
                         headers: dict[str, str]) -> tuple[bytes, bool]:
    ours = {name.lower() for name in headers}
    names = [name.encode("ascii") for name in headers]
    values = [value.encode("ascii") for value in headers.values()]
    if not _writable(names, values):
        raise httpx.LocalProtocolError("Illegal header name or value")
    parts = [b"POST ", url.raw_path, b" HTTP/1.1\r\nHost: ", url.netloc, b"\r\n"]
    for name, value in defaults:
        if name.decode("ascii").lower() not in ours:
            parts += (name, b": ", value, b"\r\n")
    for name, value in zip(names, values, strict=True):
        parts += (name, b": ", value, b"\r\n")
    return b"".join(parts), "content-length" not in ours and "transfer-encoding" not in ours


def _writable(names: list[bytes], values: list[bytes]) -> bool:
    """Whether h11 would write these headers: one match over the names and one over the
    values, each joined by NUL (no name or value may hold one: the count tells)."""
    if not values:
        return True
    joined = b"\x00".join(values)
    return (joined.count(b"\x00") == len(values) - 1 and _VALUES.fullmatch(joined) is not None
            and _NAMES.fullmatch(b"\x00".join(names)) is not None)


class DirectPool:
    """Connections per origin, reused most recent first, for up to `keepalive_expiry` seconds
    idle; at most `max_connections` open and `max_keepalive` idle. A request waits at most its
    pool timeout for a free slot (httpx.PoolTimeout)."""

    def __init__(self, ssl_context: ssl.SSLContext, defaults: list[tuple[bytes, bytes]], *,
                 max_connections: int, max_keepalive: int, keepalive_expiry: float) -> None:
        self.defaults = defaults
        self.ssl_context = ssl_context
        self._idle: dict[tuple, list[Connection]] = {}
        self._idle_count = 0
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_keepalive, self._expiry = max_keepalive, keepalive_expiry
        self._lock = threading.Lock()
        self.is_closed = False

    def send(self, url: httpx.URL, head: bytes, body: bytes, timeouts: Timeouts, *,
             stream: bool) -> DirectResponse:
        """The answer to the request `head` + `body` (see request_head): with `stream`, once its
        headers have arrived; without, read whole and its connection back in the pool."""
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme.decode()}://'.")
        connect, read, write, pool = timeouts
        connection = self._checkout((scheme, url.raw_host, url.port), connect, pool)
        response = DirectResponse(connection, self._release, read)
        try:
            # One write for a small body: a second would cost a system call and a packet more.
            if len(body) < 65536:
                connection.send(head + body, write)
            else:
                connection.send(head, write)
                connection.send(body, write)
            response.read_head()
            if not stream:
                response.read()
        except BaseException:
            response.close()
            raise
        return response

    def close(self) -> None:
        with self._lock:
            self.is_closed = True
            idle = [connection for waiting in self._idle.values() for connection in waiting]
            self._idle.clear()
            self._idle_count = 0
        for connection in idle:
            self._discard(connection)

    def _checkout(self, key: tuple, connect_timeout: float | None,
                  pool_timeout: float | None) -> Connection:
        now = time.monotonic()
        reused, stale = None, []
        with self._lock:
            idle = self._idle.get(key)
            while idle and reused is None:
                connection = idle.pop()
                self._idle_count -= 1
                # An idle socket with something to read was closed (or broken) by the
                # upstream: httpcore drops such a connection before sending too.
                if now - connection.idle_since < self._expiry and not _readable(connection.sock):
                    reused = connection
                else:
                    stale.append(connection)
        for dropped in stale:
            self._discard(dropped)
        if reused is not None:
            return reused
        if not self._slots.acquire(blocking=False):
            self._drop_one_idle()
            if not self._slots.acquire(timeout=pool_timeout):
                raise httpx.PoolTimeout("no connection slot came free in time")
        try:
            return self._connect(key, connect_timeout)
        except BaseException:
            self._slots.release()
            raise

    def _connect(self, key: tuple, timeout: float | None) -> Connection:
        scheme, raw_host, port = key
        host = raw_host.decode("ascii")
        try:
            sock = socket.create_connection((host, port or _DEFAULT_PORTS[scheme]), timeout)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if scheme == b"https":
                    sock = self.ssl_context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        return Connection(sock, key, timeout)

    def _release(self, connection: Connection, reusable: bool) -> None:
        closing = [connection]
        if reusable:
            now = time.monotonic()
            connection.idle_since = now
            with self._lock:
                if not self.is_closed and self._idle_count < self._max_keepalive:
                    idle = self._idle.setdefault(connection.key, [])
                    idle.append(connection)
                    closing.pop()
                    # The least recently used wait at the bottom: drop those idle too long.
                    while now - idle[0].idle_since >= self._expiry:
                        closing.append(idle.pop(0))
                    self._idle_count += 1 - len(closing)
        for closed in closing:
            self._discard(closed)

    def _drop_one_idle(self) -> None:
        """Every slot is taken: close an idle connection (to any origin) to free one."""
        with self._lock:
            idle = next((connections for connections in self._idle.values() if connections),
                        None)
            if idle is None:
                return
            connection = idle.pop(0)
            self._idle_count -= 1
        self._discard(connection)

    def _discard(self, connection: Connection) -> None:
        connection.close()
        self._slots.release()


def _readable(sock: socket.socket) -> bool:
    """Whether an idle socket has bytes or its end waiting (as httpcore's is_socket_readable)."""
    fd = sock.fileno()
    if fd < 0:
        return True
    poll = getattr(select, "poll", None)
    if poll is None:  # gevent's monkey-patching removes poll
        return bool(select.select([fd], [], [], 0)[0])
    poller = poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))

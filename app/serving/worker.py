"""The gunicorn worker of the documented deployment: gthread that slow clients cannot freeze.

gunicorn's gthread worker gives a connection a thread as soon as its first bytes arrive and
then reads the request with a blocking socket, so ~512 connections that send half a request
line and stall hold every thread, health probes included. This worker:

- reads request headers in the worker's event loop (non-blocking) and hands a connection to a
  thread only once its header block is complete; a connection that has not sent it within
  RELAYGATE_HEADER_TIMEOUT seconds of being accepted (or of a kept-alive request starting) is
  closed without ever holding a thread;
- bounds every socket read a thread makes: the rest of the headers (pipelined or oversized
  requests) by the header deadline, the body by RELAYGATE_BODY_TIMEOUT seconds in total; a
  read past its deadline closes the connection (a late body is answered 408 first). Writes carry no
  timeout, so long streaming (SSE) answers are unaffected;
- lets the thread that answered a kept-alive connection wait briefly (LINGER_MS) for its next
  request and serve it too when its head arrives whole: no trip through the event loop, the
  thread pool's queue and a second thread (about half the worker's own CPU per request); a
  head that arrives in part goes to the event loop to be read like any other, so a stalled
  client still holds no thread. At most a quarter of the threads wait so;
- spreads connections over the workers: a worker holding more than an accepting sibling (by
  more than ACCEPT_SLACK) leaves a new connection to it for ACCEPT_PAUSE (app/serving/balance.py
  says why);
- caps the connections one client address holds open in a worker
  (RELAYGATE_MAX_CONNECTIONS_PER_ADDRESS); the address is the peer, or X-Forwarded-For when
  the peer is one of RELAYGATE_TRUSTED_PROXIES.

TLS and HTTP/2 prior-knowledge listeners keep gthread's own handling: terminate TLS at the
proxy in front (the documented deployment binds plain HTTP).

gunicorn drops header names holding an underscore (they would share an environ name with their
hyphenated twin); Codex CLI's `session_id` and `conversation_id`, which name its conversation
for sticky sessions, are read as their hyphenated spelling instead (`SessionHeaders`).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import select
import selectors
import socket
import threading
import time
from collections import Counter, deque

from gunicorn.http.body import LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn, ThreadWorker
from werkzeug.exceptions import RequestTimeout

from app.clientaddr import TrustedProxies
from app.config import load_server_settings
from app.serving.balance import ConnectionBoard
from app.serving.head import plain_head
from app.serving.onesend import OneSend

# Larger than gunicorn's default limits on a header block (100 fields of 8190 bytes would be
# more, but such a request is refused by the parser anyway once a thread reads it).
MAX_HEADER_BYTES = 64 * 1024
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_FORWARDED_FOR = re.compile(rb"^x-forwarded-for:[ \t]*(.*?)[ \t]*\r?$", re.I | re.M)
# What the event loop's read of a header block found (GuardedThreadWorker._receive_head).
_WAITING, _COMPLETE, _GONE = object(), object(), object()
_PARTIAL = object()  # a thread's answer: the connection's next head has begun, not ended
# How long a thread that answered waits for the connection's next request before handing it
# back to the event loop (a client's next request usually follows its answer within a round trip)
LINGER_MS = 50
# How long a worker holding more than ACCEPT_SLACK connections more than a sibling stops
# accepting, so the sibling takes what arrives; past it, it takes one itself (the sibling may be
# busy or stopping). The slack keeps one-off connections (health checks) from waiting on a
# sibling's busy loop when the split is as even as it gets anyway.
ACCEPT_PAUSE = 0.005
ACCEPT_SLACK = 1
TOO_MANY_CONNECTIONS = (b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n"
                        b"Content-Length: 0\r\nConnection: close\r\n\r\n")


class HeadersTimedOut(NoMoreData):
    """The headers were not received in time: gunicorn closes the connection quietly."""

    def __str__(self):
        return "the client did not send its request in time"


class BodyTimedOut(RequestTimeout):
    """The body was not received in time: the app, reading it, answers 408."""

    def __init__(self):
        super().__init__("The request body was not received in time.")


class DeadlineUnreader(SocketUnreader):
    """gunicorn's socket reader with an optional deadline (time.monotonic()) on every read;
    past it, a read raises `expired`."""

    def __init__(self, sock):
        super().__init__(sock)
        self.deadline: float | None = None
        self.expired: type[Exception] = HeadersTimedOut

    def chunk(self, size_hint=None):
        if self.deadline is None:
            return super().chunk(size_hint)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.expired()
        prior = self.sock.gettimeout()
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return super().chunk(size_hint)
        except TimeoutError as error:
            raise self.expired() from error
        finally:
            self.sock.settimeout(prior)


class SessionHeaders(Request):
    """A request whose `session_id` / `conversation_id` headers arrive as `session-id` /
    `conversation-id`: harmless names the app reads for sticky sessions alone, unlike the
    proxy headers the underscore rule protects. A plain head is read by `plain_head`, any
    other by gunicorn's Python parser (app/serving/head.py)."""

    RENAMED = {"SESSION_ID": "SESSION-ID", "CONVERSATION_ID": "CONVERSATION-ID"}

    def _apply_header_policy(self, name, value, *args, **kwargs):
        return super()._apply_header_policy(self.RENAMED.get(name, name), value, *args,
                                            **kwargs)

    def parse(self, unreader):
        scheme_headers = _plain_parsing(self.cfg)
        if scheme_headers is None or self._use_fast:
            return super().parse(unreader)
        buf = bytearray()
        self.read_into(unreader, buf, stop=True)
        head = plain_head(bytes(buf), line_limit=self.limit_request_line,
                          field_limit=self.limit_request_fields,
                          field_size_limit=self.limit_request_field_size,
                          scheme_headers=scheme_headers, renamed=self.RENAMED)
        if head is None:
            return self._parse_python(unreader, buf)
        self.method, self.uri, self.path, self.query, self.fragment = head[:5]
        self.version, self.headers = head.version, head.headers
        return head.rest


@functools.lru_cache(maxsize=4)
def _plain_parsing(cfg) -> frozenset[str] | None:
    """The secure scheme headers' names when plain heads may skip gunicorn's parser: not with
    the PROXY protocol, nor with the settings that change how a field is read."""
    if cfg.proxy_protocol != "off" or cfg.strip_header_spaces or cfg.permit_obsolete_folding:
        return None
    return frozenset(cfg.secure_scheme_headers)


class GuardedConn(TConn):
    def __init__(self, cfg, sock, client, server, release):
        super().__init__(cfg, sock, client, server)
        self.peer = client[0] if isinstance(client, tuple) else None
        self.address: str | None = None  # the counted client address, once known
        self.head = b""  # header bytes read by the event loop, for the thread's parser
        self.header_deadline = 0.0
        self.guarded = False  # whether the event loop reads its headers (not TLS, not h2)
        self._release = release

    def init(self):
        super().init()
        if isinstance(self.parser, RequestParser):
            self.parser.mesg_class = SessionHeaders

    def close(self, graceful=False):
        self._release(self)
        super().close(graceful)


class GuardedThreadWorker(ThreadWorker):
    # Made by the master (check_config) before it forks the workers, which share it.
    board: ConnectionBoard | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = load_server_settings()
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.max_per_address = settings.max_connections_per_address
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.reading: deque[GuardedConn] = deque()  # in the order of their header deadlines
        self.open_per_address: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.lingering = 0
        # A quarter of the threads: none with fewer than four, where one waiting thread would
        # delay every other connection's request.
        self.max_lingering = self.cfg.threads // 4
        self.slot: int | None = None  # this worker's place on the board
        self._pid = 0
        self._accept_paused_until = 0.0
        self._insist = False  # after a pause, the next connection is taken regardless

    @classmethod
    def check_config(cls, cfg, log):
        super().check_config(cfg, log)
        if cls.board is None:
            cls.board = ConnectionBoard()

    def init_process(self):
        if self.board is not None:
            self._pid = os.getpid()
            self.slot = self.board.claim(self._pid, self.age)
        super().init_process()

    def run(self):
        try:
            super().run()
        finally:
            if self.board is not None and self.slot is not None:
                self.board.release(self.slot, self._pid)

    # --- connections are spread over the workers ----------------------------------------

    def _post(self) -> None:
        if self.board is not None and self.slot is not None:
            accepting = self.alive and self.nr_conns < self.worker_connections
            self.board.post(self.slot, self._pid, self.nr_conns if accepting else -1,
                            time.monotonic())

    def _leave_to_sibling(self) -> bool:
        """Whether to stop accepting for ACCEPT_PAUSE: an accepting sibling holds fewer
        (by more than ACCEPT_SLACK)."""
        if self.board is None or self.slot is None:
            return False
        if self._insist:
            # However late this worker's loop comes back (a busy machine may not run it for
            # a while), a connection waits for one pause at most.
            self._insist = False
            return False
        now = time.monotonic()
        fewest = self.board.fewest_elsewhere(self.slot, now)
        if fewest is None or self.nr_conns <= fewest + ACCEPT_SLACK:
            return False
        self._accept_paused_until = now + ACCEPT_PAUSE
        self._insist = True
        self.set_accept_enabled(False)
        return True

    def set_accept_enabled(self, enabled):
        # The main loop enables accepting whenever there is room: not while paused.
        if enabled and time.monotonic() < self._accept_paused_until:
            return
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout):
        self._post()
        if self._accept_paused_until:
            remaining = self._accept_paused_until - time.monotonic()
            if remaining > 0:
                timeout = min(timeout, remaining)
            else:  # over since the main loop looked: accept again now, not a loop later
                self._accept_paused_until = 0.0
                if self.alive and self.nr_conns < self.worker_connections:
                    self.set_accept_enabled(True)
        super().wait_for_and_dispatch_events(timeout)

    # --- connections arrive -------------------------------------------------------------

    def accept(self, listener):
        if self._leave_to_sibling():
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._post()
        conn = GuardedConn(self.cfg, client_sock, client_addr, listener.getsockname(),
                           self._forget)
        conn.guarded = (not self.cfg.is_ssl
                        and not negotiation.prior_knowledge_allowed(self.cfg, client_addr))
        if not self.proxies.trusts(conn.peer) and not self._admit(conn, conn.peer):
            return
        if conn.guarded:
            self._await_headers(conn, time.monotonic() + self.header_timeout)
        else:
            client_sock.setblocking(True)
            self.enqueue_req(conn)

    def on_client_socket_readable(self, conn, client):
        if not conn.guarded:
            super().on_client_socket_readable(conn, client)
            return
        # A kept-alive connection starts its next request: its headers are read here too. The
        # socket is readable, and a small request's whole head is usually there already: read
        # it at once, and only an incomplete head waits in `reading` (same socket, registered
        # still: a new callback is no system call).
        self.keepalived_conns.remove(conn)
        conn.head = b""
        conn.header_deadline = time.monotonic() + self.header_timeout
        read = self._receive_head(conn)
        if read is _WAITING:
            self.reading.append(conn)
            self.poller.modify(conn.sock, selectors.EVENT_READ,
                               lambda _sock: self._on_header_bytes(conn))
            return
        self.poller.unregister(conn.sock)
        self._headers_read(conn, read)

    # --- the event loop reads headers ---------------------------------------------------

    def _await_headers(self, conn: GuardedConn, deadline: float) -> None:
        conn.sock.setblocking(False)
        conn.head = b""
        conn.header_deadline = deadline
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             lambda _sock: self._on_header_bytes(conn))

    def _on_header_bytes(self, conn: GuardedConn) -> None:
        read = self._receive_head(conn)
        if read is _WAITING:
            return
        self._stop_reading(conn)
        self._headers_read(conn, read)

    def _receive_head(self, conn: GuardedConn) -> object:
        """Read what the socket holds of the header block: _COMPLETE (or too long, for the
        parser to refuse), _GONE when the client went away, else _WAITING for more. It never
        blocks: the event loop's sockets are non-blocking, a thread's are not."""
        try:
            data = conn.sock.recv(MAX_HEADER_BYTES, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return _WAITING
        except OSError:
            data = b""
        if not data:
            return _GONE
        conn.head += data
        if not _END_OF_HEADERS.search(conn.head) and len(conn.head) < MAX_HEADER_BYTES:
            return _WAITING
        return _COMPLETE

    def _headers_read(self, conn: GuardedConn, read: object) -> None:
        """The connection, out of the event loop: closed, or given a thread for its request."""
        if read is _GONE:
            self._drop(conn)
            return
        if self.proxies.trusts(conn.peer):
            # The proxy's own requests (no X-Forwarded-For) are not counted against anyone.
            found = _FORWARDED_FOR.search(conn.head.split(b"\r\n\r\n", 1)[0])
            address = (self.proxies.client_address(conn.peer, found.group(1).decode("latin-1"))
                       if found else None)
            if address != conn.address:
                self._forget(conn)
                if not self._admit(conn, address):
                    return
        conn.data_ready = True
        self.enqueue_req(conn)

    def _stop_reading(self, conn: GuardedConn) -> None:
        self.poller.unregister(conn.sock)
        self.reading.remove(conn)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        while self.reading and (self.reading[0].header_deadline <= now or not self.alive):
            conn = self.reading.popleft()
            self.poller.unregister(conn.sock)
            self._drop(conn)

    def _drop(self, conn: GuardedConn) -> None:
        self.nr_conns -= 1
        conn.close()

    # --- the per-address cap ------------------------------------------------------------

    def _admit(self, conn: GuardedConn, address: str | None) -> bool:
        """Count the connection against its address, or refuse it (429) and close it."""
        with self._count_lock:
            if (address is not None and self.max_per_address > 0
                    and self.open_per_address[address] >= self.max_per_address):
                refused = True
            else:
                refused = False
                conn.address = address
                if address is not None:
                    self.open_per_address[address] += 1
        if refused:
            try:
                conn.sock.setblocking(False)
                conn.sock.send(TOO_MANY_CONNECTIONS)
            except OSError:
                pass
            self._drop(conn)
        return not refused

    def _forget(self, conn: GuardedConn) -> None:
        with self._count_lock:
            if conn.address is not None:
                self.open_per_address[conn.address] -= 1
                if self.open_per_address[conn.address] <= 0:
                    del self.open_per_address[conn.address]
                conn.address = None

    # --- a thread serves the request ----------------------------------------------------

    def handle(self, conn):
        keepalive = self._serve(conn)
        while keepalive is True and self._may_linger(conn):
            keepalive = self._next_request(conn)
        return keepalive

    def _may_linger(self, conn: GuardedConn) -> bool:
        """Whether this thread may wait for the connection's next request: not for a trusted
        proxy (its requests are counted by their X-Forwarded-For, in the event loop), nor with
        bytes already read (gunicorn serves those at once), nor when a quarter of the threads
        wait already."""
        return (conn.guarded and self.alive and not conn.is_http2
                and self.lingering < self.max_lingering and not self.proxies.trusts(conn.peer)
                and not conn.parser.unreader.buf.getvalue())

    def _next_request(self, conn: GuardedConn) -> object:
        """Wait up to LINGER_MS for the next head; serve it here if it came whole, else answer
        what the event loop is to do with the connection (keep it alive, read the rest of
        the head, or drop it)."""
        waiting = select.poll()
        waiting.register(conn.sock, select.POLLIN)
        with self._count_lock:
            self.lingering += 1
        try:
            ready = waiting.poll(LINGER_MS)
        finally:
            with self._count_lock:
                self.lingering -= 1
        if not ready:
            return True
        conn.head = b""
        conn.header_deadline = time.monotonic() + self.header_timeout
        read = self._receive_head(conn)
        if read is _WAITING:  # nothing to read after all (kept alive), or a head begun
            return _PARTIAL if conn.head else True
        if read is _GONE:
            return _GONE
        return self._serve(conn)

    def finish_request(self, conn, fs):
        outcome = None if fs.cancelled() or fs.exception() else fs.result()
        if outcome is _PARTIAL:
            # Its deadline runs from when the head began: `reading` stays in deadline order
            # but for the moment of this hand-off.
            conn.sock.setblocking(False)
            self.reading.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ,
                                 lambda _sock: self._on_header_bytes(conn))
        elif outcome is _GONE:
            self._drop(conn)
        else:
            super().finish_request(conn, fs)

    def _serve(self, conn):
        if conn.guarded:
            if conn.sock.gettimeout() is not None:  # not from a lingering thread: blocking already
                conn.sock.setblocking(True)
            conn.init()  # plain HTTP/1: makes the parser, reads nothing
            if not conn.is_http2:
                if not isinstance(conn.parser.unreader, DeadlineUnreader):
                    reader = DeadlineUnreader(conn.sock)
                    reader.unread(conn.parser.unreader.take_buffered())
                    conn.parser.unreader = reader
                if conn.head:
                    conn.parser.unreader.unread(conn.head)
                    conn.head = b""
                conn.parser.unreader.deadline = (conn.header_deadline
                                                 or time.monotonic() + self.header_timeout)
                conn.parser.unreader.expired = HeadersTimedOut
                conn.header_deadline = 0.0
        return super().handle(conn)

    def _keepalive_after(self, conn, keepalive):
        # A body read to its end leaves nothing to drain: gunicorn's drain would only set and
        # restore the socket's timeout (two system calls) to read nothing.
        body = getattr(conn.parser.mesg, "body", None) if keepalive else None
        if (body is not None and type(body.reader) is LengthReader and body.reader.length == 0
                and body.buf.tell() == 0 and not body.failed):
            # Nor is there anything for the parser to drain before the next request (it would
            # set the socket's timeout back, a system call): the answer decided keep-alive.
            conn.parser.mesg = None
            return True
        return super()._keepalive_after(conn, keepalive)

    def handle_request(self, req, conn):
        reader = getattr(conn.parser, "unreader", None)
        if not isinstance(reader, DeadlineUnreader):
            return super().handle_request(req, conn)
        reader.deadline = time.monotonic() + self.body_timeout
        reader.expired = BodyTimedOut
        # The answer's head goes out with its body: app/serving/onesend.py.
        sock, conn.sock = conn.sock, OneSend(conn.sock)
        try:
            return super().handle_request(req, conn)
        finally:
            writer, conn.sock = conn.sock, sock
            # The drain of an unread body before keep-alive keeps the deadline, but a late
            # body there just closes the connection: the answer has been sent.
            reader.expired = HeadersTimedOut
            writer.flush()

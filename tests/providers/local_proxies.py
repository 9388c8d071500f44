"""Tiny HTTP and SOCKS5 proxies on 127.0.0.1, so tests can see traffic really go through them."""

from __future__ import annotations

import base64
import contextlib
import selectors
import socket
import struct
import threading


class TinyProxy:
    """Accepts connections, lets a subclass open the tunnel, then pipes bytes both ways."""

    scheme = ""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.tunnels: list[tuple[str, int]] = []
        self.refused = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.username}:{self.password}@127.0.0.1:{self.port}"

    def __enter__(self) -> TinyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Closing alone does not wake a thread blocked in accept(); shutting down does.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join()

    def open_tunnel(self, client: socket.socket) -> tuple[socket.socket, bytes] | None:
        """Do the proxy handshake; the upstream socket and bytes to send it first, or None."""
        raise NotImplementedError

    def _accept_forever(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def refuse(self, client: socket.socket, reply: bytes) -> None:
        """Count the refusal, then answer it: once the client has its answer, a test may look."""
        self.refused += 1
        client.sendall(reply)

    def _serve(self, client: socket.socket) -> None:
        # A client hanging up mid-handshake or mid-pipe just ends this tunnel.
        with client, contextlib.suppress(OSError):
            tunnel = self.open_tunnel(client)
            if tunnel is None:
                return
            upstream, first_bytes = tunnel
            with upstream:
                upstream.sendall(first_bytes)
                self.relay(client, upstream)

    def relay(self, client: socket.socket, upstream: socket.socket) -> None:
        _pipe(client, upstream)


class HttpForwardProxy(TinyProxy):
    """A plain-HTTP proxy: takes absolute-form requests and checks Basic proxy credentials."""

    scheme = "http"

    def open_tunnel(self, client: socket.socket) -> tuple[socket.socket, bytes] | None:
        head, rest = _read_head(client)
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ")
        headers = dict(line.split(": ", 1) for line in header_lines if line)
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if headers.pop("Proxy-Authorization", None) != f"Basic {expected}":
            return self.refuse(
                client, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
            )
        # The whole body must be in hand: after this the proxy only listens to the upstream.
        while len(rest) < int(headers.get("Content-Length", 0)):
            rest += _recv_exact(client, int(headers["Content-Length"]) - len(rest))
        host_port, _, path = target.removeprefix("http://").partition("/")
        host, _, port = host_port.partition(":")
        self.tunnels.append((host, int(port or 80)))
        # One request per tunnel keeps the proxy a byte pipe after this rewrite.
        headers["Connection"] = "close"
        lines = [f"{method} /{path} {version}", *(f"{k}: {v}" for k, v in headers.items())]
        upstream = socket.create_connection((host, int(port or 80)))
        return upstream, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + rest

    def relay(self, client: socket.socket, upstream: socket.socket) -> None:
        # Tell the client too that this connection ends with the answer, or it would reuse it.
        head, rest = _read_head(upstream)
        client.sendall(head + b"\r\nConnection: close\r\n\r\n" + rest)
        _pipe(client, upstream)


class Socks5Proxy(TinyProxy):
    """A SOCKS5 proxy (RFC 1928) that insists on username/password auth (RFC 1929)."""

    scheme = "socks5"

    def open_tunnel(self, client: socket.socket) -> tuple[socket.socket, bytes] | None:
        _version, method_count = _recv_exact(client, 2)
        if 2 not in _recv_exact(client, method_count):
            return self.refuse(client, b"\x05\xff")
        client.sendall(b"\x05\x02")
        _recv_exact(client, 1)
        username = _recv_exact(client, _recv_exact(client, 1)[0]).decode()
        password = _recv_exact(client, _recv_exact(client, 1)[0]).decode()
        if (username, password) != (self.username, self.password):
            return self.refuse(client, b"\x01\x01")
        client.sendall(b"\x01\x00")
        _version, _command, _reserved, address_type = _recv_exact(client, 4)
        if address_type == 1:
            host = socket.inet_ntoa(_recv_exact(client, 4))
        else:
            host = _recv_exact(client, _recv_exact(client, 1)[0]).decode()
        (port,) = struct.unpack("!H", _recv_exact(client, 2))
        self.tunnels.append((host, port))
        upstream = socket.create_connection((host, port))
        client.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        return upstream, b""


class GarbageProxy(TinyProxy):
    """Answers whatever it is sent with bytes that are neither HTTP nor SOCKS, then hangs up."""

    def __init__(self, scheme: str) -> None:
        super().__init__("user", "pass")
        self.scheme = scheme
        self.connections = 0

    def open_tunnel(self, client: socket.socket) -> None:
        self.connections += 1
        client.recv(65536)
        client.sendall(b"\x00\xffnot a proxy answer\r\n\r\n")
        return None


class SilentProxy(TinyProxy):
    """Accepts connections and reads what it is sent, but never answers a byte."""

    def __init__(self, scheme: str) -> None:
        super().__init__("user", "pass")
        self.scheme = scheme
        self.connections = 0
        self._clients: list[socket.socket] = []
        self._done = threading.Event()

    def open_tunnel(self, client: socket.socket) -> None:
        self.connections += 1
        self._clients.append(client)
        client.recv(65536)
        self._done.wait()
        return None

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        super().__exit__(*exc_info)


def _pipe(left: socket.socket, right: socket.socket) -> None:
    peers = {left: right, right: left}
    with selectors.DefaultSelector() as selector:
        for sock in peers:
            selector.register(sock, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                data = key.fileobj.recv(65536)
                if not data:
                    return
                peers[key.fileobj].sendall(data)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed during the proxy handshake")
        data += chunk
    return data

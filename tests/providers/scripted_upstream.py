"""A raw HTTP/1.1 server on a free local port that answers each request with the next scripted
bytes, for what the stub upstream cannot do on purpose: chunk or compress an answer oddly, end
it at the connection's close, hang up on a kept-alive connection, speak TLS."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Answer:
    data: bytes  # written as is, in one piece
    hang_up: bool = False  # close the connection once written


def json_answer(body: bytes, *extra_headers: str) -> bytes:
    head = "".join(f"{header}\r\n" for header in extra_headers)
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            f"\r\n{head}\r\n").encode() + body


def chunked(status_line: str, pieces: list[bytes], *extra_headers: str) -> bytes:
    head = "".join(f"{header}\r\n" for header in extra_headers)
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces if piece)
    head = f"{status_line}\r\nTransfer-Encoding: chunked\r\n{head}\r\n"
    return head.encode() + body + b"0\r\n\r\n"


class ScriptedUpstream:
    """`requests` holds (connection number, request bytes) in arrival order; `hung_up` is set
    each time the server has closed a connection after an answer."""

    def __init__(self, answers: list[Answer], tls: ssl.SSLContext | None = None) -> None:
        self._answers = list(answers)
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.requests: list[tuple[int, bytes]] = []
        self.hung_up = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedUpstream:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Shut down, not just closed: that is what wakes a thread blocked in accept or recv. The
        # listener first, and its thread ended, so that no connection is accepted after the
        # others are taken to be closed (one accepted then was left open, and reported unclosed
        # by whichever later test the garbage collector happened to run in).
        _close(self._listener)
        self._threads[0].join(5)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _close(connection)
        for thread in self._threads:
            thread.join(5)

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        number = 0
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(connection)
            self._spawn(self._serve, connection, number)
            number += 1

    def _serve(self, connection: socket.socket, number: int) -> None:
        try:
            if self._tls is not None:
                connection = self._tls.wrap_socket(connection, server_side=True)
                with self._lock:
                    self._connections.append(connection)
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length:
                    buffer += connection.recv(65536)
                with self._lock:
                    self.requests.append((number, head + b"\r\n\r\n" + buffer[:length]))
                    answer = self._answers.pop(0) if self._answers else Answer(b"", True)
                buffer = buffer[length:]
                connection.sendall(answer.data)
                if answer.hang_up:
                    connection.close()
                    self.hung_up.set()
                    return
        except (OSError, ValueError):
            return  # the client went away, or refused our certificate
        finally:
            connection.close()  # however the connection ended (closing twice is harmless)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(the server's context, a client context that trusts only the server's certificate), for
    127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relaygate test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "upstream.pem", directory / "upstream.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client

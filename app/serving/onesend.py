"""The connection's socket as gunicorn's response writer sees it: a head sent with the body.

gunicorn's Response sends the status line and headers in one `sendall` and the body in a
second, so every answer costs two system calls, two trips through the loopback (or the
network stack) and two wake-ups of the client or proxy reading it. `OneSend` holds a final
head (not a 1xx one) until the first bytes after it and sends both in one call. Anything else
done with the socket sends the held head first, and `flush` sends it when the answer ends
without a body (HEAD, 204, an empty body), so nothing is reordered or delayed past the
response writer's own next step.
"""

from __future__ import annotations

import socket


class OneSend:
    __slots__ = ("sock", "_held", "_head_seen")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._held = b""
        self._head_seen = False

    def sendall(self, data) -> None:
        if not self._head_seen and data[9:10] != b"1":  # not an informational (1xx) head
            self._head_seen = True
            if data[:5] == b"HTTP/":
                self._held = bytes(data)
                return
        if self._held:
            data, self._held = self._held + data, b""
        self.sock.sendall(data)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            self.sock.sendall(held)

    def __getattr__(self, name: str):
        self.flush()
        return getattr(self.sock, name)

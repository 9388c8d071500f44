"""gunicorn's response writer through OneSend (app/serving/onesend.py): an answer's head and
its first body bytes leave in one send, nothing is reordered, and nothing is left behind."""

import socket

from app.serving.onesend import OneSend

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


class RecordingSocket:
    """A socket that keeps each send as one entry (what went out per system call)."""

    def __init__(self):
        self.sent: list[bytes] = []
        self.shut = False

    def sendall(self, data):
        self.sent.append(bytes(data))

    def shutdown(self, how):
        self.shut = True


def test_the_head_leaves_with_the_first_body_bytes_and_later_writes_go_alone():
    sock = RecordingSocket()
    writer = OneSend(sock)
    writer.sendall(HEAD)
    assert sock.sent == []
    writer.sendall(b"he")
    writer.sendall(b"llo")
    writer.flush()
    assert sock.sent == [HEAD + b"he", b"llo"]


def test_an_informational_head_goes_out_at_once_and_the_final_head_still_waits():
    sock = RecordingSocket()
    writer = OneSend(sock)
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    writer.sendall(early)
    writer.sendall(HEAD)
    assert sock.sent == [early]
    writer.sendall(b"hello")
    assert sock.sent == [early, HEAD + b"hello"]


def test_an_answer_without_a_body_is_sent_by_flush():
    sock = RecordingSocket()
    writer = OneSend(sock)
    writer.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
    writer.flush()
    writer.flush()
    assert sock.sent == [b"HTTP/1.1 204 No Content\r\n\r\n"]


def test_any_other_use_of_the_socket_sends_the_held_head_first():
    sock = RecordingSocket()
    writer = OneSend(sock)
    writer.sendall(HEAD)
    writer.shutdown(socket.SHUT_WR)
    assert sock.sent == [HEAD] and sock.shut


def test_bytes_written_without_a_head_are_never_held():
    sock = RecordingSocket()
    writer = OneSend(sock)
    writer.sendall(b"raw bytes of an upgraded connection")
    writer.sendall(b"HTTP/1.1 200 OK\r\n\r\n")  # data that only looks like a head
    assert sock.sent == [b"raw bytes of an upgraded connection", b"HTTP/1.1 200 OK\r\n\r\n"]


def test_a_real_peer_reads_head_and_body_in_order():
    left, right = socket.socketpair()
    with left, right:
        writer = OneSend(left)
        writer.sendall(HEAD)
        writer.sendall(b"hello")
        writer.flush()
        left.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := right.recv(65536):
            received += chunk
    assert received == HEAD + b"hello"

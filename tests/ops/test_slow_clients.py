"""Under gunicorn as gunicorn.conf.py configures it: slow or idle clients cannot freeze the
server, request reads have deadlines, one address holds a bounded number of connections, and
streamed answers still stream."""

import contextlib
import os
import resource
import socket
import time

import httpx
import pytest

from tests.api.chat_support import BODY, MODEL
from tests.support.http import serve_with_gunicorn
from tests.support.servers import free_port

SLOW_SOCKETS = 600
GENEROUS = 20.0  # seconds: an answer, not a speed


def gunicorn_env(tmp_path, port: int, **settings) -> dict:
    env = {name: value for name, value in os.environ.items()
           if name not in ("REDIS_URL", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'relaygate.db'}",
                "RELAYGATE_SECRET_KEY": "slow-clients-secret",
                "RELAYGATE_ADMIN_USERNAME": "ops", "RELAYGATE_ADMIN_PASSWORD": "ops password",
                "RELAYGATE_BIND": f"127.0.0.1:{port}", "RELAYGATE_INSTANCE_DIR": str(tmp_path),
                "RELAYGATE_ACCESS_LOG": "", "RELAYGATE_ARGON2_MEMORY_KIB": "1024", **settings})
    return env


@contextlib.contextmanager
def gunicorn(tmp_path, **settings):
    port = free_port()
    server, base = serve_with_gunicorn(gunicorn_env(tmp_path, port, **settings),
                                       tmp_path / "gunicorn.log")
    try:
        yield port, base
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """One worker with one-second read deadlines, at most 5 connections per address, and a
    trusted proxy on 127.0.0.1: (port, base URL)."""
    settings = {"RELAYGATE_WORKERS": "1", "RELAYGATE_HEADER_TIMEOUT": "1",
                "RELAYGATE_BODY_TIMEOUT": "1", "RELAYGATE_MAX_CONNECTIONS_PER_ADDRESS": "5",
                "RELAYGATE_TRUSTED_PROXIES": "127.0.0.1"}
    with gunicorn(tmp_path_factory.mktemp("guarded"), **settings) as server:
        yield server


@pytest.fixture
def enough_descriptors():
    """600 client sockets here and up to 600 in one worker (gunicorn inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect_from(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(GENEROUS)
    sock.bind((address, 0))  # all of 127.0.0.0/8 is loopback on Linux
    sock.connect(("127.0.0.1", port))
    return sock


@contextlib.contextmanager
def open_sockets():
    sockets: list[socket.socket] = []
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_600_slow_and_idle_connections_do_not_stop_healthz(tmp_path, enough_descriptors):
    stalls = [b"GET /healthz HT",  # half a request line
              b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\nX-Slow: "]  # half the headers
    with gunicorn(tmp_path) as (port, base), open_sockets() as slow:
        for number in range(SLOW_SOCKETS):
            # From 20 addresses, 30 each: under the per-address cap, so only the worker's
            # design keeps the threads free.
            sock = connect_from(f"127.0.0.{2 + number % 20}", port)
            if number % 10:  # nine in ten stall mid-request, the rest never send a byte
                sock.sendall(stalls[number % 2])
            slow.append(sock)
        time.sleep(1)  # let the workers accept them all
        with httpx.Client(timeout=GENEROUS) as http:
            for _ in range(8):  # new connections, so both workers answer some
                response = http.get(base + "/healthz", headers={"Connection": "close"})
                assert response.status_code == 200


def receive_all(sock: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_a_request_whose_headers_or_body_stall_is_cut_off_at_its_deadline(guarded):
    port, base = guarded
    with open_sockets() as sockets:
        stalled_headers = connect_from("127.0.0.1", port)
        sockets.append(stalled_headers)
        stalled_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n")
        stalled_body = connect_from("127.0.0.1", port)
        sockets.append(stalled_body)
        stalled_body.sendall(b"POST /api/sessions/login HTTP/1.1\r\nHost: relaygate\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                             b'{"username": ')
        # Closed by the server (recv returns), not by our own GENEROUS socket timeout.
        assert receive_all(stalled_headers) == b""
        answer = receive_all(stalled_body)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert httpx.get(base + "/healthz", timeout=GENEROUS).status_code == 200


def read_answer(sock: socket.socket, pending: bytearray | None = None) -> bytes:
    """One whole HTTP answer (a Content-Length body) from a kept-alive connection; the bytes
    read past it (pipelined answers) are kept in `pending` for the next call."""
    received = bytes(pending or b"")
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    if pending is not None:
        pending[:] = body[length:]
    return head


def test_a_kept_alive_connection_takes_whole_and_split_heads_and_loses_a_stalled_one(guarded):
    port, _ = guarded
    request = b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n\r\n"
    with open_sockets() as sockets:
        sock = connect_from("127.0.0.7", port)
        sockets.append(sock)
        sock.sendall(request)
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(request)  # its next head whole, read as soon as it arrives
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(request[:12])  # then in two parts
        time.sleep(0.3)
        sock.sendall(request[12:])
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(request[:12])  # and a head that never ends: closed at its deadline
        assert receive_all(sock) == b""


def test_pipelined_requests_are_answered_in_order_on_one_connection(guarded):
    """Bodies read by the app (a login) or left unread (a 405) end where the next request
    begins, whether it was sent with them or after their answer."""
    port, _ = guarded
    login = b'{"username": "nobody", "password": "wrong"}'
    with open_sockets() as sockets:
        sock = connect_from("127.0.0.8", port)
        sockets.append(sock)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n\r\n"
                     b"POST /healthz HTTP/1.1\r\nHost: relaygate\r\nContent-Length: 17\r\n\r\n"
                     b"GET /x HTTP/1.1\r\n"  # an unread body, itself a request's start
                     b"GET /nowhere HTTP/1.1\r\nHost: relaygate\r\n\r\n"
                     b"POST /api/sessions/login HTTP/1.1\r\nHost: relaygate\r\n"
                     b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(login)).encode() + b"\r\n\r\n" + login)
        pending = bytearray()
        assert read_answer(sock, pending).startswith(b"HTTP/1.1 200")
        assert read_answer(sock, pending).startswith(b"HTTP/1.1 405")
        assert read_answer(sock, pending).startswith(b"HTTP/1.1 404")
        assert read_answer(sock, pending).startswith(b"HTTP/1.1 401")
        assert not pending
        for unread in (b"", b"x" * 5000):  # then one at a time, each after the last answer
            sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: relaygate\r\nContent-Length: "
                         + str(len(unread)).encode() + b"\r\n\r\n" + unread)
            assert read_answer(sock).startswith(b"HTTP/1.1 405")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n\r\n")
            assert read_answer(sock).startswith(b"HTTP/1.1 200")


def test_half_sent_next_heads_on_kept_alive_connections_hold_no_thread(tmp_path):
    """Four threads (one may wait for a next request), and six clients each sending half of
    its next head right after an answer: a new client is still served, long before the header
    deadline would free a thread, and a head finished later is served too."""
    request = b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n\r\n"
    with gunicorn(tmp_path, RELAYGATE_WORKERS="1", RELAYGATE_THREADS="4",
                  RELAYGATE_HEADER_TIMEOUT="120") as (port, base), open_sockets() as sockets:
        for number in range(6):
            sock = connect_from(f"127.0.0.{20 + number}", port)
            sockets.append(sock)
            sock.sendall(request)
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
            sock.sendall(request[:12])
        assert httpx.get(base + "/healthz", timeout=GENEROUS).status_code == 200
        sockets[0].sendall(request[12:])  # a head finished later is served
        assert read_answer(sockets[0]).startswith(b"HTTP/1.1 200")


def test_one_address_holds_at_most_the_configured_connections(guarded):
    port, base = guarded
    with open_sockets() as sockets:
        for _ in range(5):
            sockets.append(connect_from("127.0.0.9", port))
        refused = connect_from("127.0.0.9", port)
        sockets.append(refused)
        assert receive_all(refused).startswith(b"HTTP/1.1 429")
        # Another address is served; so is a client behind the trusted proxy on 127.0.0.1.
        assert httpx.get(base + "/healthz", timeout=GENEROUS).status_code == 200

        def through_proxy(client: str) -> socket.socket:
            sock = connect_from("127.0.0.1", port)
            sockets.append(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n"
                         b"X-Forwarded-For: " + client.encode() + b"\r\n\r\n")
            return sock

        kept = [through_proxy("203.0.113.5") for _ in range(5)]  # kept alive after answering
        for sock in kept:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert receive_all(through_proxy("203.0.113.5")).startswith(b"HTTP/1.1 429")
        assert through_proxy("198.51.100.5").recv(65536).startswith(b"HTTP/1.1 200")


def server_sockets_by_process(port: int, client_ports: set[int]) -> dict[int, int]:
    """How many of the server's ends of the connections from `client_ports` each process holds
    (from /proc: the sockets' inodes in /proc/net/tcp, then each process's descriptors)."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
            if local == port and remote in client_ports and fields[3] == "01":  # established
                inodes.add(f"socket:[{fields[9]}]")
    held: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for descriptor in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{descriptor}") in inodes:
                        held[int(pid)] = held.get(int(pid), 0) + 1
    return held


def test_a_burst_of_kept_alive_connections_is_spread_over_the_workers(tmp_path):
    """32 clients connecting at once, as a client pool or a proxy does: kept alive, each stays
    with the worker that accepted it, and one worker's threads share one core, so each of the
    two workers takes about half (whichever the kernel woke first used to take most)."""
    request = b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n\r\n"
    with gunicorn(tmp_path, RELAYGATE_WORKERS="2") as (port, _), open_sockets() as sockets:
        # Both workers serve first (the second may still be loading the app when /healthz
        # answers): kept-alive connections, one at a time, until two processes hold them.
        with open_sockets() as probes:
            deadline = time.monotonic() + GENEROUS
            while len(server_sockets_by_process(port, {probe.getsockname()[1]
                                                       for probe in probes})) < 2:
                assert time.monotonic() < deadline, "the second worker never accepted"
                probe = connect_from("127.0.0.1", port)
                probes.append(probe)
                probe.sendall(request)
                assert read_answer(probe).startswith(b"HTTP/1.1 200")
        for _ in range(32):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sockets.append(sock)
        for sock in sockets:
            sock.settimeout(GENEROUS)
            sock.sendall(request)
        for sock in sockets:
            assert read_answer(sock).startswith(b"HTTP/1.1 200")
        held = server_sockets_by_process(port, {sock.getsockname()[1] for sock in sockets})
        assert sum(held.values()) == 32
        assert len(held) == 2 and min(held.values()) >= 13, held


def test_answers_without_a_body_end_on_a_kept_alive_connection(guarded):
    """A HEAD answer's head is sent although no body follows it, and the next request on the
    connection is answered after it."""
    port, _ = guarded
    with open_sockets() as sockets:
        sock = connect_from("127.0.0.10", port)
        sockets.append(sock)
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: relaygate\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: relaygate\r\n\r\n")
        assert read_answer(sock).startswith(b"HTTP/1.1 200")


def test_a_stream_longer_than_the_read_deadlines_is_delivered_whole(guarded, stub_upstream):
    _, base = guarded
    with httpx.Client(base_url=base, timeout=30) as http:
        login = http.post("/api/sessions/login",
                          json={"username": "ops", "password": "ops password"})
        admin = {"Authorization": f"Bearer {login.json()['data']['sessionToken']}"}
        assert http.post("/api/accounts", headers=admin, json={
            "name": "stub", "provider": "openai", "apiKey": "slow",
            "baseUrl": stub_upstream.url + "/v1"}).status_code == 201
        key = http.post("/api/keys", json={"name": "stream"}, headers=admin).json()["data"]
        # 12 tokens 0.2 s apart: the answer outlives both one-second deadlines.
        stub_upstream.set_behaviour(credential="slow", tokenDelay=0.2, tokens=12)
        with http.stream("POST", f"/api/ai/chat?model={MODEL}", json=BODY,
                         headers={"x-api-key": key["apiKey"]}) as response:
            assert response.status_code == 200
            lines = [line for line in response.iter_lines() if line]
        assert sum(1 for line in lines if line.startswith("data:")) >= 12
        assert "event: usage" in "\n".join(lines)

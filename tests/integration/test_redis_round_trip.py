"""One Redis round trip without redis-py's pipeline (app/cache/round_trip.py): answers in
order, a refused command answered by its error, scripts loaded again after the server forgot
them, a connection cut mid-way failing open to the database with the books exact, and the
read-ahead grouped by hash slot on a Cluster."""

from __future__ import annotations

import contextlib
import socket
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import redis

from app import services_of
from app.cache import CacheStore, RedisConnection, read_ahead, read_through
from app.cache import round_trip as round_trip_module
from app.cache.counters import counter_key
from app.cache.holds import QuotaHolds
from app.cache.round_trip import SERVER_ID, send, unnamed
from app.cache.topology import connect
from tests.api.chat_support import BODY, MODEL, add_account, key_usage
from tests.support.apps import login_headers, make_app
from tests.support.quota import key_counter
from tests.support.servers import PrivateRedis


class CuttingProxy:
    """Passes bytes between its clients and a Redis server until `cut` is set; from then on
    whatever a client sends is swallowed and its connection closed unanswered (a connection
    lost mid round trip), new connections included."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.cut = False
        self.cuts = 0
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        for end in [self._listener, *self._open]:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, asking: bool) -> None:
        try:
            while data := source.recv(65536):
                if asking and self.cut:
                    self.cuts += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@pytest.fixture
def proxy(private_redis):
    found = CuttingProxy(private_redis.port)
    yield found
    found.close()


def test_a_round_trip_answers_in_order_and_a_refused_command_with_its_error(private_redis):
    client = connect(private_redis.url, socket_timeout=2)
    answers = send(client, [("SET", "rt:a", "1"), ("ZREM", "rt:a", "x"), ("INCR", "rt:n"),
                            ("MGET", "rt:a", "rt:none", "rt:n")])
    assert answers[0] is True or answers[0] == b"OK"
    assert isinstance(answers[1], redis.ResponseError) and "WRONGTYPE" in str(answers[1])
    assert answers[2:] == [1, [b"1", None, b"1"]]
    assert send(client, []) == []
    # the connection went back to the pool clean: the next round trip reads its own answers
    assert send(client, [("GET", "rt:a")]) == [b"1"]
    client.close()


def test_scripts_sent_in_a_round_trip_run_again_after_the_server_forgot_them(private_redis):
    connection = RedisConnection(connect(private_redis.url, socket_timeout=2), "rgtest:rt:")
    scripts, bucket = connection.scripts, "rgtest:rt:slots:concurrency:k1"
    assert scripts.run("slot_acquire", [bucket], ["s1", 5, 60_000])[0] == 1
    connection.client.script_flush()  # a restarted or failed-over server (NOSCRIPT)
    assert scripts.run("slot_acquire", [bucket], ["s2", 5, 60_000])[0] == 1
    connection.client.script_flush()
    answers = scripts.run_many("slot_acquire", [([bucket], ["s3", 5, 60_000]),
                                                ([bucket], ["s4", 5, 60_000])])
    assert [answer[0] for answer in answers] == [1, 1]
    assert connection.client.zcard(bucket) == 4
    connection.client.close()


def test_a_round_trip_cut_off_mid_way_raises_and_the_next_one_connects_again(
        private_redis, proxy):
    client = connect(proxy.url, socket_timeout=2)
    assert send(client, [("SET", "rt:cut", "1"), ("GET", "rt:cut")])[1] == b"1"
    proxy.cut = True
    with pytest.raises(redis.ConnectionError):
        send(client, [("INCR", "rt:cut"), ("GET", "rt:cut")])
    assert proxy.cuts == 1  # sent once: redis-py's default for a connection is no retry
    proxy.cut = False
    assert send(client, [("GET", "rt:cut")]) == [b"1"]  # the INCR never reached the server
    client.close()


class Entry:
    def __init__(self, cache: CacheStore) -> None:
        self.cache, self.cache_ttl = cache, 60

    @read_through("rt-test", key=lambda ident: ident)
    def read(self, ident: str) -> str:
        return f"value of {ident}"


def test_a_read_ahead_cut_off_mid_way_reads_nothing_and_the_cache_backs_off(
        private_redis, proxy):
    service = Entry(CacheStore(RedisConnection(connect(proxy.url, socket_timeout=2),
                                               "rgtest:rt:")))
    assert service.read("a") == "value of a"  # filled
    found = read_ahead(service.cache, [(Entry.read, ("a",)), (Entry.read, ("b",))])
    assert len(found.found) == 2 and found.found[Entry.read.value_key(service.cache, "a")][0]
    proxy.cut = True
    assert read_ahead(service.cache, [(Entry.read, ("a",))]).found == {}
    assert not service.cache.available()  # the reads now go to the database
    assert service.read("a") == "value of a"
    service.cache.client.close()


@pytest.mark.parametrize("cut_at", [1, 2, 3])
def test_a_request_whose_redis_connection_is_cut_mid_round_trip_is_answered_and_billed_once(
        postgres_url, private_redis, proxy, tmp_path, stub_upstream, monkeypatch, cut_at):
    """A warm chat-fast request makes three round trips (the reads, the hold, the usage);
    whichever is cut, the request is answered from the database and its use stored once."""
    application = make_app(tmp_path, postgres_url, proxy.url, "rgtest:rt-cut:")
    try:
        headers, client = login_headers(application), application.test_client()
        add_account(client, headers, stub_upstream, "acct-a")
        key = client.post("/api/keys", json={"name": "cut", "concurrencyLimit": 5},
                          headers=headers).json["data"]
        route = f"/api/ai/chat-fast?model={MODEL}"
        body, auth = {**BODY, "stream": False}, {"x-api-key": key["apiKey"]}
        for _ in range(2):  # warm: the caches filled, the usage queued and drained
            assert client.post(route, json=body, headers=auth).status_code == 200
            services_of(application).usage_queue.drain_once("tests")
        packed = round_trip_module.pack
        trips: list = []

        def cutting(commands):
            trips.append([command[0] for command in commands])
            if len(trips) == cut_at:
                proxy.cut = True
            return packed(commands)

        monkeypatch.setattr(round_trip_module, "pack", cutting)
        assert client.post(route, json=body, headers=auth).status_code == 200
        assert proxy.cuts >= 1
        assert "MGET" in trips[0] and (cut_at < 2 or "EVALSHA" in trips[1])
        if cut_at == 3:
            assert "XADD" in trips[2]
        monkeypatch.setattr(round_trip_module, "pack", packed)
        proxy.cut = False
        services = services_of(application)
        services.cache.redis.retry_now()
        services.usage_queue.drain_once("tests")
        assert key_usage(client, headers, key["id"])["totalRequests"] == 3
        quota = services.quota
        counter = key_counter(quota, key, MODEL)
        assert quota._stored(counter).used == 3  # every unit reached the system of record
    finally:
        services_of(application).engine.dispose()
        services_of(application).cache.client.close()


def test_server_id_is_sent_as_the_run_id_of_the_server_the_connection_reaches(tmp_path):
    server = PrivateRedis(aof_dir=tmp_path).start()
    try:
        client = connect(server.url, socket_timeout=2)
        echo = ("EVAL", "return ARGV[1]", 0, SERVER_ID)
        first = redis.Redis.from_url(server.url).info("server")["run_id"]
        assert [send(client, [echo])[0] for _ in range(3)] == [first.encode()] * 3
        asked = redis.Redis.from_url(server.url).info("commandstats")["cmdstat_info"]["calls"]
        assert asked == 2  # once by the connection, once by this test
        server.restart()  # another run id; the pooled connection connects anew
        second = redis.Redis.from_url(server.url).info("server")["run_id"]
        assert second != first
        assert send(client, [echo]) == [second.encode()]
        assert client.connection_pool.connection_kwargs  # the same client, not a new one
    finally:
        server.stop()


def test_a_take_the_server_forgot_the_script_of_runs_again_asking_info_for_the_run_id(
        private_redis):
    client = connect(private_redis.url, socket_timeout=2)
    holds = QuotaHolds(RedisConnection(client), ttl_ms=60_000)
    counter = SimpleNamespace(subject="key:forgot", model_type="basic", period="day",
                              period_start=datetime(2026, 1, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    client.script_flush()  # NOSCRIPT: redis-py's Script loads it and sends '' for SERVER_ID
    taken = holds.take(counter, "h-1", 5, expires_at=now + timedelta(minutes=1), now=now,
                       fill=(SimpleNamespace(used=0, version=0), ""))
    assert taken is not None and taken.granted
    run_id = client.info("server")["run_id"].encode()
    assert client.hget(counter_key(holds.redis, counter), "r") == run_id
    assert unnamed(("EVALSHA", "sha", 0, SERVER_ID)) == ("EVALSHA", "sha", 0, "")

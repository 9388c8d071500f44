"""A request in few Redis round trips: a warm chat-fast or client-protocol request reads its key,
model, plans and account pool in one pipeline; takes its key's rpm and concurrency slots and
its quota hold in one script call, its sticky-session read riding along; and queues its usage
with its slot's release in one more. What was read ahead never outlives a change made
meanwhile."""

import threading

import pytest
from redis.connection import Connection

from app import services_of
from app.cache import CacheStore, RedisConnection, read_ahead, read_through, reading_ahead
from app.cache.topology import connect
from tests.api.chat_support import BODY, MODEL, add_account
from tests.support.apps import login_headers, make_app


def _commands(client) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(found["calls"]) for name, found in stats.items()}


@pytest.fixture
def round_trips(monkeypatch) -> list:
    """Every send to a Redis server, counted as it goes (a pipeline sends once)."""
    sent: list = []
    send = Connection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    return sent


def _bytes(sent) -> bytes:
    return b"".join(bytes(part) for part in (sent if isinstance(sent, list) else [sent]))


def _one_request(app, route: str, body: dict, key: dict, round_trips: list | None = None
                 ) -> dict[str, int]:
    """The Redis commands one warm request sent, by name (`round_trips` gets its sends)."""
    redis_client = services_of(app).cache.client
    client = app.test_client()
    before = _commands(redis_client)
    sent = len(round_trips or [])
    response = client.post(route, json=body, headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 200, response.get_data()
    if round_trips is not None:
        del round_trips[:sent]  # those before the request (the INFO above among them)
    after = _commands(redis_client)
    if round_trips is not None:
        round_trips.pop()  # the INFO after it
    spent = {name: after[name] - before.get(name, 0) for name in after}
    spent["info"] -= 1  # the second INFO itself
    return {name: calls for name, calls in spent.items() if calls}


def _app_with_key(tmp_path, postgres_url, private_redis, stub_upstream, **settings):
    app = make_app(tmp_path, postgres_url, private_redis.url, "rg:", **settings)
    headers, client = login_headers(app), app.test_client()
    add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "limited", "requestsPerMinute": 1000,
                                         "concurrencyLimit": 10},
                      headers=headers).json["data"]
    return app, key


@pytest.mark.parametrize("path", ["chat-fast", "chat-optimized"])  # optimized: queued usage
def test_a_warm_chat_fast_request_makes_three_round_trips(
        postgres_url, private_redis, stub_upstream, tmp_path, round_trips, path):
    app, key = _app_with_key(tmp_path, postgres_url, private_redis, stub_upstream)
    route, body = f"/api/ai/{path}?model={MODEL}", {**BODY, "stream": False}
    _one_request(app, route, body, key)  # fills the caches
    spent = _one_request(app, route, body, key, round_trips)
    # key, model, plans and the account pool: one MGET of their values and generations (the
    # model is not asked again for the quota's tier)
    assert spent.get("mget") == 1
    assert [_bytes(sent)[:14] for sent in round_trips if b"MGET" in _bytes(sent)] == [
        b"*9\r\n$4\r\nMGET\r\n"]
    # the key's two slots and the quota hold in one call, with the sticky read
    assert spent.get("evalsha") == 1 and spent.get("getex") == 1
    # the usage queued and the concurrency slot freed together
    assert spent.get("xadd") == 1 and spent.get("zrem") == 1
    # (the storage strategy's version, polled every quarter second, may come along too)
    assert len([sent for sent in round_trips if b"strategy:version" not in _bytes(sent)]) == 3
    services_of(app).engine.dispose()


def test_a_warm_client_protocol_request_reads_the_client_names_with_the_rest(
        postgres_url, private_redis, stub_upstream, tmp_path, round_trips):
    app, key = _app_with_key(tmp_path, postgres_url, private_redis, stub_upstream)
    body = {**BODY, "model": MODEL, "stream": False}
    _one_request(app, "/v1/chat/completions", body, key)
    spent = _one_request(app, "/v1/chat/completions", body, key, round_trips)
    assert spent.get("mget") == 1
    # the client names' value and generation came along in place of the model's by name (its
    # tier comes with the client names' entry): the key, the client names, the plans and the
    # pool, four entries, eight keys
    assert [_bytes(sent)[:14] for sent in round_trips if b"MGET" in _bytes(sent)] == [
        b"*9\r\n$4\r\nMGET\r\n"]
    assert spent.get("evalsha") == 1
    services_of(app).engine.dispose()


class Counted:
    def __init__(self, cache):
        self.cache, self.cache_ttl, self.value = cache, 60, "old"

    @read_through("ahead-test", key=lambda: "all")
    def read(self):
        return self.value


def test_what_was_read_ahead_answers_until_a_change_invalidates_it(redis_server_url,
                                                                   redis_prefix):
    service = Counted(CacheStore(RedisConnection(connect(redis_server_url, socket_timeout=1),
                                                 redis_prefix)))
    assert service.read() == "old"  # cached
    ahead = read_ahead(service.cache, [(Counted.read, ())])
    service.cache.client.delete(Counted.read.value_key(service.cache))
    service.value = "new"
    with reading_ahead(ahead):
        assert service.read() == "old"  # answered from the pipeline, not asked again
        Counted.read.invalidate(service.cache)  # a change committed meanwhile
        assert service.read() == "new"
    seen = []
    thread = threading.Thread(target=lambda: seen.append(service.read()))
    thread.start()
    thread.join(5)
    assert seen == ["new"]


def _usage_entries(spent: dict[str, int]) -> dict[str, int]:
    """The read-through invalidation's commands among `spent`."""
    return {name: spent.get(name, 0) for name in ("multi", "incr", "expire", "del", "exec")}


@pytest.mark.parametrize(("route", "round_trips_made"), [("chat-optimized", 3), ("chat", 4)])
def test_a_synchronous_store_drops_the_spend_entries_with_the_requests_last_round_trip(
        postgres_url, private_redis, stub_upstream, tmp_path, round_trips, route,
        round_trips_made):
    # chat-optimized, stored (RELAYGATE_CHAT_OPTIMIZED_USAGE=stored): the read-ahead; the
    # slots and the hold with the sticky read; the slot's release, the key's two spend entries
    # dropped in one transaction and the hold's settle.
    # chat: the read-ahead (the model's tier, the plans: the key and the model come from
    # PostgreSQL); the reservation's hold taking the slots, with the sticky read; the hold's
    # settle once the reservation's row is written; the release and the spend entries.
    app, key = _app_with_key(tmp_path, postgres_url, private_redis, stub_upstream,
                             chat_optimized_usage="stored")
    path, body = f"/api/ai/{route}?model={MODEL}", {**BODY, "stream": False}
    _one_request(app, path, body, key)
    spent = _one_request(app, path, body, key, round_trips)
    assert spent.get("mget") == 1
    assert spent.get("evalsha") == 2 and spent.get("getex") == 1 and spent.get("zrem") == 1
    assert _usage_entries(spent) == {"multi": 1, "incr": 2, "expire": 2, "del": 2, "exec": 1}
    # (the storage strategy's version, polled every quarter second, may come along too)
    made = [_bytes(sent) for sent in round_trips if b"strategy:version" not in _bytes(sent)]
    assert len(made) == round_trips_made
    assert b"EXEC" in made[-1] and b"ZREM" in made[-1]
    assert (b"EVALSHA" in made[-1]) == (route == "chat-optimized")  # the hold's settle
    services_of(app).engine.dispose()

"""The read-through cache on real Redis: served from Redis, never stale, failing open."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from app import services_of
from app.cache import CacheStore, RedisConnection, codec, read_through, slot_tag
from app.cache.topology import connect
from app.errors import InvalidSession, Unauthenticated
from app.security import sha256_hex
from tests.support.apps import login_headers, make_app


class StatementCounter:
    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args):
        self.count += 1


def test_key_validation_is_served_from_redis_without_sql(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "cached"})
    counter = StatementCounter(services.engine)
    first = services.keys.authenticate(key.api_key)
    after_first = counter.count
    second = services.keys.authenticate(key.api_key)
    assert after_first > 0 and counter.count == after_first
    assert first == second


def test_a_change_on_one_worker_is_refused_on_the_next_request_of_another(
        postgres_url, redis_server_url, redis_prefix, tmp_path):
    worker_a = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
    worker_b = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
    headers = login_headers(worker_a)
    a, b = worker_a.test_client(), worker_b.test_client()
    made = [a.post("/api/keys", json={"name": n}, headers=headers).json["data"]
            for n in ("paused", "deleted", "expired")]
    for key in made:
        assert b.get("/api/keys/me", headers={"x-api-key": key["apiKey"]}).status_code == 200
    a.patch(f"/api/keys/{made[0]['id']}", json={"isActive": False}, headers=headers)
    a.delete(f"/api/keys/{made[1]['id']}", headers=headers)
    a.patch(f"/api/keys/{made[2]['id']}", json={"expiresAt": "2020-01-01T00:00:00Z"},
            headers=headers)
    for key in made:
        response = b.get("/api/keys/me", headers={"x-api-key": key["apiKey"]})
        assert response.status_code == 401
        assert response.json["error"]["code"] == "INVALID_API_KEY"
    for app in (worker_a, worker_b):
        services_of(app).engine.dispose()


def test_a_deleted_session_is_refused_at_once_on_another_worker(
        postgres_url, redis_server_url, redis_prefix, tmp_path):
    worker_a = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
    worker_b = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
    headers = login_headers(worker_a)
    assert worker_b.test_client().get("/api/sessions/current", headers=headers).status_code == 200
    worker_a.test_client().delete("/api/sessions/current", headers=headers)
    assert worker_b.test_client().get("/api/sessions/current", headers=headers).status_code == 401
    for app in (worker_a, worker_b):
        services_of(app).engine.dispose()


class SlowReader:
    """A service whose read blocks until told, to stage a fill racing an invalidation."""

    def __init__(self, cache):
        self.cache = cache
        self.cache_ttl = 60
        self.value = "old"
        self.release = threading.Event()
        self.reading = threading.Event()

    @read_through("race-test", key=lambda name: name)
    def read(self, name):
        value = self.value
        self.reading.set()
        self.release.wait(5)
        return value


def test_a_fill_that_raced_an_invalidation_is_not_kept(redis_server_url, redis_prefix):
    service = SlowReader(CacheStore(RedisConnection(connect(redis_server_url, socket_timeout=1),
                                                    redis_prefix)))
    results = []
    reader = threading.Thread(target=lambda: results.append(service.read("x")))
    reader.start()
    assert service.reading.wait(5)
    service.value = "new"  # the write commits ...
    SlowReader.read.invalidate(service.cache, "x")  # ... then invalidates
    service.release.set()
    reader.join(5)
    assert results == ["old"]  # that reader saw the old row, which is fine for it
    service.reading.clear()
    assert service.read("x") == "new"  # but the stale value never reached the cache


def test_requests_keep_succeeding_from_the_database_when_redis_dies(
        postgres_url, private_redis, tmp_path, caplog):
    app = make_app(tmp_path, postgres_url, private_redis.url, "rg:")
    headers = login_headers(app)
    client = app.test_client()
    key = client.post("/api/keys", json={"name": "sturdy"}, headers=headers).json["data"]
    me = {"x-api-key": key["apiKey"]}
    assert client.get("/api/keys/me", headers=me).status_code == 200
    private_redis.stop()
    assert client.get("/api/keys/me", headers=me).status_code == 200
    assert client.get("/api/sessions/current", headers=headers).status_code == 200
    assert client.patch(f"/api/keys/{key['id']}", json={"isActive": False},
                        headers=headers).status_code == 200
    assert client.get("/api/keys/me", headers=me).status_code == 401
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["error"]["details"]["checks"]["redis"]["ok"] is False
    assert "redis unavailable" in caplog.text
    services_of(app).engine.dispose()


@pytest.mark.parametrize("value", [None])
def test_none_results_are_not_cached(pg_app, value):
    services = services_of(pg_app)
    assert services.keys.validate("f" * 64) is value
    cache = services.cache
    assert not list(cache.client.scan_iter(match=cache.prefix + "c:apikey:*"))


class WholeTable:
    """A service whose large read is kept in process (read_through(in_process=True))."""

    def __init__(self, cache, rows: dict):
        self.cache, self.cache_ttl = cache, 60
        self.rows, self.reads = rows, 0

    @read_through("copy-test", key=lambda: "all", in_process=True)
    def table(self):
        self.reads += 1
        return dict(self.rows)


def test_a_table_kept_in_process_is_neither_fetched_nor_recomputed_until_any_process_changes_it(
        redis_server_url, redis_prefix):
    rows = {"a": 1}
    here, there = (WholeTable(CacheStore(RedisConnection(
        connect(redis_server_url, socket_timeout=1), redis_prefix)), rows) for _ in range(2))
    assert here.table() == {"a": 1} and here.reads == 1
    here.cache.client.delete(WholeTable.table.value_key(here.cache))
    assert here.table() == {"a": 1} and here.reads == 1  # Redis no longer holds it: the copy does
    rows["b"] = 2
    WholeTable.table.invalidate(there.cache)  # a change committed by another process
    assert here.table() == {"a": 1, "b": 2} and here.reads == 2
    assert there.table() == {"a": 1, "b": 2} and there.reads == 0  # filled by `here`


def test_a_table_kept_in_process_is_read_again_once_redis_has_lost_its_generation(
        redis_server_url, redis_prefix):
    rows = {"a": 1}
    here = WholeTable(CacheStore(RedisConnection(connect(redis_server_url, socket_timeout=1),
                                                 redis_prefix)), rows)
    assert here.table() == {"a": 1}
    # Redis restarted without its data (a change made meanwhile could not invalidate anything).
    here.cache.client.delete(*here.cache.client.scan_iter(match=redis_prefix + "*"))
    rows["b"] = 2
    assert here.table() == {"a": 1, "b": 2} and here.reads == 2


def _plant(services, namespace: str, version: int, ident: str, record: dict) -> str:
    """A record as an instance of the previous release caches it (its own version's key)."""
    cache = services.cache
    value_key = cache.keys.cached_value(namespace, version, slot_tag(ident))
    cache.client.set(value_key, codec.dumps(record))
    return value_key


def test_a_key_record_the_previous_release_cached_is_never_read_and_dropped_on_change(pg_app):
    """A rolling deploy: an instance still on the camelCase record (version 2) cached one that
    lets a paused key in and names another owner. This release reads its own format from the
    database instead, and its next change of the key drops that copy too, so the old instance
    re-reads the database as well."""
    services = services_of(pg_app)
    key = services.keys.create({"name": "paused"})
    services.keys.update(key.id, {"is_active": False})
    old = _plant(services, "apikey", 2, key.hashed_key, {
        "id": key.id, "permissions": "all", "isActive": True, "expiresAt": None,
        "rateLimits": {"concurrency": None, "daily": None, "requests": None},
        "userId": "someone-else", "allowedProviders": "all"})
    with pytest.raises(Unauthenticated):
        services.keys.authenticate(key.api_key)
    services.keys.update(key.id, {"is_active": True})
    assert services.cache.client.get(old) is None
    assert services.keys.authenticate(key.api_key)["user_id"] is None


def test_a_session_record_the_previous_release_cached_is_never_read(pg_app):
    services = services_of(pg_app)
    user = services.users.create(email="old-format@example.com")
    token = services.sessions.create(user_id=user.id, user_type="user")["session_token"]
    services.sessions.delete(token)
    _plant(services, "session", 1, sha256_hex(token), {
        "userId": user.id, "userType": "user", "sessionData": {},
        "expiresAt": datetime(2100, 1, 1, tzinfo=UTC)})
    with pytest.raises(InvalidSession):
        services.sessions.validate(token)

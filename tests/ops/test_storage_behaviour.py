"""Storage strategies change what the services do, on this worker and on the others."""

import threading

from app import services_of
from app.services.storage.strategies import StorageConfig
from tests.support.apps import login_headers, make_app

NO_CACHE = StorageConfig(enable_cache=False, read_strategy="database_first")


def cached_validations(services) -> list[bytes]:
    pattern = services.cache.key("c", "apikey", "*")
    return list(services.cache.client.scan_iter(match=pattern))


def test_key_validation_bypasses_redis_while_the_cache_is_off(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "strategy"})
    services.storage.switch("apikey", NO_CACHE)
    services.keys.authenticate(key.api_key)
    assert cached_validations(services) == []
    services.storage.switch("apikey", StorageConfig(read_strategy="database_first"))
    services.keys.authenticate(key.api_key)
    assert cached_validations(services) == []
    services.storage.switch("apikey", StorageConfig())
    services.keys.authenticate(key.api_key)
    assert len(cached_validations(services)) == 1


def test_cache_ttl_sets_how_long_a_validation_is_kept(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "ttl"})
    services.storage.switch("apikey", StorageConfig(cache_ttl=40))
    services.keys.authenticate(key.api_key)
    [name] = cached_validations(services)
    assert 36_000 <= services.cache.client.pttl(name) <= 40_000


def test_session_lookups_follow_their_own_strategy(pg_app):
    services = services_of(pg_app)
    headers = login_headers(pg_app)
    services.storage.switch("session", NO_CACHE)
    assert pg_app.test_client().get("/api/sessions/current", headers=headers).status_code == 200
    pattern = services.cache.key("c", "session", "*")
    assert list(services.cache.client.scan_iter(match=pattern)) == []


def test_a_switch_on_one_worker_is_followed_by_another(postgres_url, redis_server_url,
                                                       redis_prefix, tmp_path):
    worker_a = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
    worker_b = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix,
                        strategy_poll_seconds=0)
    b = services_of(worker_b)
    key = b.keys.create({"name": "two workers"})
    b.keys.authenticate(key.api_key)
    assert len(cached_validations(b)) == 1
    services_of(worker_a).storage.switch("apikey", NO_CACHE)
    b.cache.client.delete(*cached_validations(b))
    b.keys.authenticate(key.api_key)
    assert cached_validations(b) == []
    for app in (worker_a, worker_b):
        services_of(app).engine.dispose()


def test_without_redis_workers_follow_a_switch_through_the_database(sqlite_url, tmp_path):
    worker_a = make_app(tmp_path, sqlite_url)
    worker_b = make_app(tmp_path, sqlite_url, strategy_poll_seconds=0)
    policy = services_of(worker_b).cache.policy
    assert policy.config("account").enable_cache is True
    services_of(worker_a).storage.switch("account", NO_CACHE)
    assert policy.config("account").enable_cache is False


def test_storage_health_says_redis_is_down_when_it_is(postgres_url, private_redis, tmp_path):
    app = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:health:")
    services = services_of(app)
    assert services.storage_health.check()["redis"]["connected"] is True
    private_redis.stop()
    health = services.storage_health.check()
    assert health["redis"]["connected"] is False and health["redis"]["latency"] is None
    assert health["postgres"]["connected"] is True
    services.engine.dispose()


def test_pool_status_counts_callers_waiting_for_a_connection(postgres_url, tmp_path):
    app = make_app(tmp_path, postgres_url, db_pool_size=1, db_pool_timeout=10.0)
    services = services_of(app)
    held = [services.engine.connect() for _ in range(2)]  # pool_size 1 + overflow 1
    waiter_has_connection = threading.Event()

    def wait_for_one():
        with services.engine.connect():
            waiter_has_connection.set()

    thread = threading.Thread(target=wait_for_one)
    thread.start()
    status = {}
    for _ in range(500):
        status = services.storage_health.pool_status()
        if status["waiting"] == 1:
            break
        threading.Event().wait(0.01)
    assert status["waiting"] == 1 and status["in_use"] == 2 and status["idle"] == 0
    held[0].close()
    assert waiter_has_connection.wait(10)
    thread.join(10)
    held[1].close()
    assert services.storage_health.pool_status()["waiting"] == 0
    services.engine.dispose()

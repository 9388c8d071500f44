"""Under gunicorn: a strategy switch made by another process reaches the workers within a
second, and /metrics sums every worker (Prometheus multiprocess mode)."""

import os
import time
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app import services_of
from app.services.storage.strategies import StorageConfig
from tests.support.apps import PG_URL, make_app
from tests.support.http import serve_with_gunicorn
from tests.support.servers import free_port, pg_admin_dsn, pg_create, pg_drop

PROPAGATION_BOUND = 1.0  # seconds: the promise (the poll interval is 0.25 s)


def requests_served(base: str, route: str) -> float:
    text = httpx.get(base + "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return sum(s.value for s in families["relaygate_http_requests"].samples
               if s.name == "relaygate_http_requests_total" and s.labels["route"] == route)


def test_workers_follow_a_switch_within_a_second_and_metrics_sum_all_workers(
        pg_database, redis_server_url, redis_prefix, tmp_path):
    admin = pg_admin_dsn(PG_URL)
    name = f"rg_ops_{uuid.uuid4().hex[:8]}"
    pg_create(admin, name)
    database_url = PG_URL.rsplit("/", 1)[0] + "/" + name
    port, prometheus_dir = free_port(), tmp_path / "prometheus"
    prometheus_dir.mkdir()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_server_url,
           "RELAYGATE_REDIS_PREFIX": redis_prefix, "RELAYGATE_SECRET_KEY": "ops-test-secret",
           "RELAYGATE_ADMIN_USERNAME": "ops", "RELAYGATE_ADMIN_PASSWORD": "ops password",
           "RELAYGATE_BIND": f"127.0.0.1:{port}", "RELAYGATE_WORKERS": "2",
           "RELAYGATE_INSTANCE_DIR": str(tmp_path), "RELAYGATE_ACCESS_LOG": "",
           "RELAYGATE_ARGON2_MEMORY_KIB": "1024", "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir)}
    server = other = None
    try:
        server, base = serve_with_gunicorn(env, tmp_path / "gunicorn.log")
        login = httpx.post(base + "/api/sessions/login",
                           json={"username": "ops", "password": "ops password"})
        headers = {"Authorization": f"Bearer {login.json()['data']['sessionToken']}"}
        key = httpx.post(base + "/api/keys", json={"name": "k"}, headers=headers).json()["data"]
        me = {"x-api-key": key["apiKey"]}
        other = make_app(tmp_path, database_url, redis_server_url, redis_prefix)
        cache = services_of(other).cache
        cached = services_of(other).keys.validate.value_key(cache, key["hashedKey"])

        def validation_cached_by_a_request() -> bool:
            cache.client.delete(cached)
            assert httpx.get(base + "/api/keys/me", headers=me).status_code == 200
            return cache.client.exists(cached) == 1

        assert validation_cached_by_a_request()
        services_of(other).storage.switch(
            "apikey", StorageConfig(enable_cache=False, read_strategy="database_first"))
        time.sleep(PROPAGATION_BOUND)
        assert not any(validation_cached_by_a_request() for _ in range(8))
        services_of(other).storage.switch("apikey", StorageConfig())
        time.sleep(PROPAGATION_BOUND)
        assert all(validation_cached_by_a_request() for _ in range(8))

        assert requests_served(base, "/api/keys/me") == 17
        pids = {path.name.rsplit("_", 1)[-1] for path in prometheus_dir.glob("*.db")}
        assert len(pids) >= 2, "both workers should have written metrics"
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        if other is not None:
            services_of(other).engine.dispose()
        pg_drop(admin, name)

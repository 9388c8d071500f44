"""Production shape: `alembic upgrade heads && gunicorn wsgi:app` on PostgreSQL and Redis."""

import hashlib
import os
import time
import uuid

import httpx
import redis

from tests.support.apps import PG_URL
from tests.support.http import serve_with_gunicorn
from tests.support.servers import free_port, pg_admin_dsn, pg_create, pg_drop


def test_gunicorn_serves_the_api_on_postgres_and_redis(pg_database, redis_server_url,
                                                       redis_prefix, tmp_path, stub_upstream):
    admin = pg_admin_dsn(PG_URL)
    name = f"rg_gunicorn_{uuid.uuid4().hex[:8]}"
    pg_create(admin, name)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": PG_URL.rsplit("/", 1)[0] + "/" + name,
           "REDIS_URL": redis_server_url, "RELAYGATE_REDIS_PREFIX": redis_prefix,
           "RELAYGATE_ENV": "production",
           "RELAYGATE_SECRET_KEY": "gunicorn-test-secret-of-at-least-32-bytes",
           "RELAYGATE_METRICS_TOKEN": "gunicorn-metrics-token",
           "RELAYGATE_ADMIN_USERNAME": "ops", "RELAYGATE_ADMIN_PASSWORD": "ops password",
           "RELAYGATE_BIND": f"127.0.0.1:{port}", "RELAYGATE_WORKERS": "2",
           "RELAYGATE_INSTANCE_DIR": str(tmp_path), "RELAYGATE_ACCESS_LOG": "",
           "RELAYGATE_ARGON2_MEMORY_KIB": "1024"}
    server = None
    try:
        server, base = serve_with_gunicorn(env, tmp_path / "gunicorn.log")
        ready = httpx.get(base + "/readyz").json()
        assert ready["data"]["checks"]["redis"]["ok"] is True
        login = httpx.post(base + "/api/sessions/login",
                           json={"username": "ops", "password": "ops password"})
        headers = {"Authorization": f"Bearer {login.json()['data']['sessionToken']}"}
        key = httpx.post(base + "/api/keys", json={"name": "prod"}, headers=headers).json()
        for _ in range(4):  # several requests, so both workers answer some
            me = httpx.get(base + "/api/keys/me", headers={"x-api-key": key["data"]["apiKey"]})
            assert me.status_code == 200
        httpx.post(base + "/api/accounts", headers=headers, json={
            "name": "stub", "provider": "openai", "apiKey": "k",
            "baseUrl": stub_upstream.url + "/v1"})
        chat = httpx.post(base + "/api/ai/chat-fast?model=openai/gpt-4o-mini",
                          json={"messages": [{"role": "user", "content": "hi"}], "stream": False},
                          headers={"x-api-key": key["data"]["apiKey"]})
        assert chat.status_code == 200, chat.text
        # gunicorn's own drain-usage worker stores the queued record.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            usage = httpx.get(base + f"/api/keys/{key['data']['id']}", headers=headers).json()
            if usage["data"]["usage"]["totalRequests"] == 1:
                break
            time.sleep(0.2)
        assert usage["data"]["usage"]["totalRequests"] == 1
        # Codex names its conversation in `session_id`, which gunicorn would drop (an
        # underscore): it arrives, and binds the conversation to the account that answered.
        codex = httpx.post(base + "/v1/responses", json={"model": "openai/gpt-4o-mini",
                                                          "input": "hi", "store": False},
                           headers={"x-api-key": key["data"]["apiKey"],
                                    "session_id": "codex-g"})
        assert codex.status_code == 200, codex.text
        bound = hashlib.sha256(b"session:codex-g").hexdigest()
        sticky = f"{redis_prefix}sticky:{key['data']['id']}:{bound}"
        assert redis.Redis.from_url(redis_server_url).exists(sticky)
        httpx.delete(base + f"/api/keys/{key['data']['id']}", headers=headers)
        for _ in range(4):
            me = httpx.get(base + "/api/keys/me", headers={"x-api-key": key["data"]["apiKey"]})
            assert me.status_code == 401
        # Production requires the metrics token: /metrics is not public.
        assert httpx.get(base + "/metrics").status_code == 401
        scraped = httpx.get(base + "/metrics",
                            headers={"Authorization": "Bearer gunicorn-metrics-token"})
        assert scraped.status_code == 200 and "relaygate" in scraped.text
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        pg_drop(admin, name)

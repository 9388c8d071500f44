"""Secrets at rest: never plaintext in the database or Redis; rotation to a new master key."""

from pathlib import Path

import psycopg
import pytest
import redis

from app import services_of
from app.crypto import SecretError
from tests.support.accounts import (
    api_key_body,
    oauth_body,
    quick_admin_headers,
    stub_token_urls,
    to_service,
)
from tests.support.apps import make_app

PROXY_PASSWORD = "proxy-password-plaintext-42"


@pytest.fixture
def app_config(app_config, stub_upstream):
    return {**app_config, **stub_token_urls(stub_upstream)}


def _database_text(services) -> bytes:
    url = services.settings.database_url
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        rows = [row[0] for table in tables
                for row in connection.execute(f'SELECT t::text FROM "{table}" t')]
    return "\n".join(rows).encode()


def _redis_text(services) -> bytes:
    if not services.cache.enabled:
        return b""
    client: redis.Redis = services.cache.client
    dump = []
    for key in client.scan_iter(match=services.cache.prefix + "*"):
        kind = client.type(key)
        if kind == b"string":
            dump.append(client.get(key) or b"")
        elif kind == b"zset":
            dump.extend(member for member, _ in client.zrange(key, 0, -1, withscores=True))
        elif kind == b"hash":
            dump.extend(b"%s=%s" % pair for pair in client.hgetall(key).items())
        dump.append(key)
    return b"\n".join(dump)


def test_no_secret_is_ever_plaintext_in_the_database_or_redis(client, services,
                                                              stub_upstream):
    headers = quick_admin_headers(services)
    oauth = oauth_body(maxConcurrency=2, proxyConfig={
        "type": "http", "host": "127.0.0.1", "port": 9, "username": "u",
        "password": PROXY_PASSWORD})
    del oauth["proxyConfig"]  # the refresh must reach the stub; the password is set below
    keyed = api_key_body(maxConcurrency=2)
    answers = []
    oauth_id = client.post("/api/accounts", json=oauth, headers=headers).json["data"]["id"]
    keyed_id = client.post("/api/accounts", json=keyed, headers=headers).json["data"]["id"]
    answers.append(client.post(f"/api/accounts/{oauth_id}/refresh", headers=headers))
    answers.append(client.patch(f"/api/accounts/{keyed_id}", headers=headers, json={
        "proxyConfig": {"type": "socks5", "host": "127.0.0.1", "port": 9, "username": "u",
                        "password": PROXY_PASSWORD}}))
    for path in ("", "/available", f"/{oauth_id}", f"/{keyed_id}"):
        answers.append(client.get(f"/api/accounts{path}", headers=headers))
    lease = services.scheduler.acquire("claude", "model")  # a lease in Redis or the database
    services.scheduler.record_usage(oauth_id, 10)

    stored = services.accounts._get(oauth_id)
    box = services.accounts.box
    secrets = [oauth["oauthData"]["accessToken"], oauth["oauthData"]["refreshToken"],
               keyed["apiKey"], PROXY_PASSWORD, box.decrypt(stored.access_token_sealed),
               box.decrypt(stored.refresh_token_sealed)]
    database, cache = _database_text(services), _redis_text(services)
    assert b"rg1:" + box.kid.encode() in database
    for secret in secrets:
        assert secret.encode() not in database
        assert secret.encode() not in cache
    never_shown = [oauth["oauthData"]["refreshToken"], PROXY_PASSWORD,
                   box.decrypt(stored.refresh_token_sealed)]
    for answer in answers:
        assert answer.status_code == 200, answer.json
        for secret in never_shown:
            assert secret not in answer.get_data(as_text=True)
    lease.release()


def test_rotation_reseals_every_secret_under_the_new_key(app_config, tmp_path):
    old_app = make_app(tmp_path, **{**app_config, "secret_key": "the-old-master-secret"})
    old = services_of(old_app)
    body = oauth_body(proxyConfig={"type": "http", "host": "127.0.0.1", "port": 3128,
                                   "username": "u", "password": PROXY_PASSWORD})
    oauth_id = old.accounts.create(to_service(body))["id"]
    keyed_id = old.accounts.create(to_service(api_key_body()))["id"]

    new_app = make_app(tmp_path, **{**app_config, "secret_key": "the-new-master-secret"})
    new = services_of(new_app)
    try:
        with pytest.raises(SecretError):
            new.accounts.client_for(keyed_id)
        runner = new_app.test_cli_runner()
        refused = runner.invoke(args=["rotate-secrets"])
        assert refused.exit_code == 1 and "RELAYGATE_SECRET_KEY_PREVIOUS" in refused.output

        result = runner.invoke(args=["rotate-secrets", "--old-key", "the-old-master-secret"])
        assert result.exit_code == 0, result.output
        assert f"re-encrypted 4 secrets in 2 rows under key {new.accounts.box.kid}" in result.output
        account = new.accounts._get(oauth_id)
        for sealed in (account.access_token_sealed, account.refresh_token_sealed,
                       account.proxy_password_sealed):
            assert new.accounts.box.is_current(sealed)
        assert new.accounts.box.decrypt(account.refresh_token_sealed) == \
            body["oauthData"]["refreshToken"]
        assert new.accounts.client_for(keyed_id) is not None
        with pytest.raises(SecretError):
            old.accounts.client_for(keyed_id)

        again = runner.invoke(args=["rotate-secrets"])
        assert "re-encrypted 0 secrets in 0 rows" in again.output
    finally:
        old.engine.dispose()
        new.engine.dispose()

"""Staged operations carry secrets: sealed while staged, gone at commit, covered by rotation."""

from __future__ import annotations

from sqlalchemy import text

from app import services_of
from tests.support.accounts import api_key_body, oauth_body, quick_admin_headers
from tests.support.apps import make_app
from tests.support.http import live_client

PROXY = {"type": "socks5", "host": "127.0.0.1", "port": 9, "username": "u",
         "password": "staged-proxy-password-plaintext"}


def _staged_rows(services) -> list[tuple]:
    with services.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text("SELECT * FROM staged_operations"))]


def _stage_accounts(http, headers) -> tuple[str, list[str]]:
    """A transaction staging an API-key account and an OAuth account behind a proxy."""
    keyed, oauth = api_key_body(), oauth_body(proxyConfig=PROXY)
    secrets = [keyed["apiKey"], oauth["oauthData"]["accessToken"],
               oauth["oauthData"]["refreshToken"], PROXY["password"]]
    began = http.post("/api/admin/transactions", json={}, headers=headers)
    assert began.status_code == 201, began.json()
    transaction = began.json()["data"]["transactionId"]
    for body in (keyed, oauth):
        staged = http.post(f"/api/admin/transactions/{transaction}/operations", headers=headers,
                           json={"type": "create", "table": "accounts", "data": body})
        assert staged.status_code == 201, staged.json()
    return transaction, secrets


def test_staged_secrets_are_sealed_while_staged_and_deleted_at_commit(app, services):
    headers = quick_admin_headers(services)
    with live_client(app) as http:
        transaction, secrets = _stage_accounts(http, headers)
        staged = _staged_rows(services)
        assert len(staged) == 2
        for row in staged:
            assert not any(secret in str(row) for secret in secrets), row
        committed = http.post(f"/api/admin/transactions/{transaction}/commit", headers=headers)
        assert committed.status_code == 200, committed.json()
        assert committed.json()["data"]["operationCount"] == 2
        assert _staged_rows(services) == []
        created = committed.json()["data"]["results"]
        account = services.accounts._get(created[0]["id"])
        assert services.accounts.box.decrypt(account.api_key_sealed) == secrets[0]


def test_a_rolled_back_transaction_keeps_no_operation(app, services):
    headers = quick_admin_headers(services)
    with live_client(app) as http:
        transaction, _ = _stage_accounts(http, headers)
        rolled = http.post(f"/api/admin/transactions/{transaction}/rollback", headers=headers)
        assert rolled.status_code == 200, rolled.json()
    assert _staged_rows(services) == []


def test_rotation_reseals_staged_operations_and_the_commit_opens_them(app_config, tmp_path):
    old_app = make_app(tmp_path, **{**app_config, "secret_key": "the-old-master-secret"})
    new_app = make_app(tmp_path, **{**app_config, "secret_key": "the-new-master-secret"})
    old, new = services_of(old_app), services_of(new_app)
    try:
        with live_client(old_app) as http:
            transaction, secrets = _stage_accounts(http, quick_admin_headers(old))
        result = new_app.test_cli_runner().invoke(
            args=["rotate-secrets", "--old-key", "the-old-master-secret"])
        assert result.exit_code == 0, result.output
        assert "re-encrypted 2 secrets in 2 rows" in result.output
        box = new.transactions.box
        with new.engine.connect() as connection:
            sealed = connection.execute(text("SELECT data_sealed FROM staged_operations")).all()
        assert len(sealed) == 2 and all(box.is_current(row[0]) for row in sealed)
        with live_client(new_app) as http:
            committed = http.post(f"/api/admin/transactions/{transaction}/commit",
                                  headers=quick_admin_headers(new))
        assert committed.status_code == 200, committed.json()
        account = new.accounts._get(committed.json()["data"]["results"][0]["id"])
        assert new.accounts.box.decrypt(account.api_key_sealed) == secrets[0]
    finally:
        old.engine.dispose()
        new.engine.dispose()

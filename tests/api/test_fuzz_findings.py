"""What schemathesis found (scripts/fuzz_openapi.py), over real HTTP on both backends: each of
these answered 500 before."""

import httpx
import pytest

from app import services_of
from tests.support.accounts import oauth_body, to_service
from tests.support.apps import login_headers
from tests.support.http import ServerThread
from tests.support.servers import free_port


@pytest.fixture
def http(app):
    headers = login_headers(app)
    with ServerThread(app, free_port()) as server, \
            httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        yield client


def test_committing_a_read_only_transaction_closes_it(http):
    begun = http.post("/api/admin/transactions", json={"readOnly": True})
    transaction = begun.json()["data"]["transactionId"]

    committed = http.post(f"/api/admin/transactions/{transaction}/commit")

    assert committed.status_code == 200, committed.text
    data = committed.json()["data"]
    assert (data["status"], data["operationCount"], data["results"]) == ("committed", 0, [])
    again = http.post(f"/api/admin/transactions/{transaction}/commit")
    assert again.status_code == 409, again.text
    state = http.get(f"/api/admin/transactions/{transaction}").json()["data"]
    assert state["status"] == "committed"


@pytest.mark.parametrize("path, body", [
    ("/api/keys/{key}/usage", {"model": "openai/gpt-4o-mini"}),
    ("/api/usage/records", {"apiKeyId": "{key}", "accountType": "openai",
                            "model": "openai/gpt-4o-mini"}),
])
def test_a_usage_record_of_more_than_a_trillion_tokens_is_refused(http, path, body):
    key = http.post("/api/keys", json={"name": "big"}).json()["data"]["id"]
    body = {name: value.replace("{key}", key) if isinstance(value, str) else value
            for name, value in body.items()}

    # Two records of 2**62 each would overflow the key's BIGINT totals.
    for _ in range(2):
        response = http.post(path.replace("{key}", key), json={**body, "inputTokens": 2**62})
        assert response.status_code == 422, response.text
        assert "inputTokens" in response.json()["error"]["details"]
    fine = http.post(path.replace("{key}", key), json={**body, "inputTokens": 10**12})
    assert fine.status_code in (200, 201, 202), fine.text


def test_an_account_credential_outside_visible_ascii_is_refused(http):
    # It could never be sent in a header; every chat served by it would have failed.
    response = http.post("/api/accounts", json={"name": "x", "provider": "openai",
                                                "apiKey": "clé secrète"})
    assert response.status_code == 422, response.text
    assert "apiKey" in response.json()["error"]["details"]


def test_refreshing_an_account_whose_proxy_is_no_usable_address_is_409(app, http):
    # The schema now refuses such a host; an imported account (CRS) may still carry one.
    services = services_of(app)
    body = oauth_body(proxyConfig={"type": "http", "host": "ab:cd", "port": 3128})
    account = services.accounts.create(to_service(body))

    response = http.post(f"/api/accounts/{account['id']}/refresh")

    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "ACCOUNT_PROXY_INVALID"
    refused = http.post("/api/accounts", json={**body, "proxyConfig": {
        "type": "http", "host": "prøxy.example", "port": 3128}})
    assert refused.status_code == 422 and "proxyConfig" in refused.json()["error"]["details"]

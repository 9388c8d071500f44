"""Upstream faults over real HTTP on both backends: a request-level 429 stays with its caller,
and an account whose proxy answers garbage or stays silent is failed over within a deadline."""

import time

import httpx
import pytest

from tests.api.chat_support import BODY, MODEL, add_account
from tests.providers.local_proxies import GarbageProxy, SilentProxy
from tests.support.apps import login_headers
from tests.support.http import ServerThread
from tests.support.servers import free_port

# The stub counts a token per word: the stub's limit below lets BODY through, not this.
LONG_BODY = {"messages": [{"role": "user", "content": "word " * 50}], "stream": False}


@pytest.fixture
def served(app):
    headers = login_headers(app)
    with ServerThread(app, free_port()) as server:
        yield server, app.test_client(), headers


def new_key(client, headers, name: str) -> str:
    response = client.post("/api/keys", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["data"]["apiKey"]


def statuses(client, headers) -> set[str]:
    page = client.get("/api/accounts", headers=headers).json["data"]
    return {account["status"] for account in page["accounts"]}


@pytest.mark.parametrize("route", ["/api/ai/chat", "/v1/chat/completions"])
def test_a_request_too_large_429_goes_back_to_its_caller_and_cools_no_account(
        served, stub_upstream, route):
    server, client, headers = served
    for name in ("acct-1", "acct-2", "acct-3"):
        add_account(client, headers, stub_upstream, name)
    stub_upstream.set_behaviour(maxInputTokens=20, retryAfter=30)
    big_tenant, other_tenant = new_key(client, headers, "big"), new_key(client, headers, "other")
    url = f"{server.url}{route}" + ("" if route.startswith("/v1") else f"?model={MODEL}")

    oversized = httpx.post(url, json={**LONG_BODY, "model": MODEL},
                           headers={"x-api-key": big_tenant}, timeout=30)

    assert oversized.status_code == 413, oversized.text
    error = oversized.json()["error"]
    assert error["code"] == "UPSTREAM_REQUEST_TOO_LARGE" and "Request too large" in error["message"]
    if route.startswith("/v1"):
        assert error["type"] == "invalid_request_error"
    else:
        assert oversized.json()["success"] is False
    assert len(stub_upstream.requests()) == 1  # no failover for the request's own fault
    assert statuses(client, headers) == {"active"}
    fine = httpx.post(url, json={**BODY, "model": MODEL, "stream": False},
                      headers={"x-api-key": other_tenant}, timeout=30)
    assert fine.status_code == 200, fine.text


def test_an_account_level_429_still_rests_the_account_and_fails_over(served, stub_upstream):
    server, client, headers = served
    busy = add_account(client, headers, stub_upstream, "acct-busy", priority=90)
    add_account(client, headers, stub_upstream, "acct-spare", priority=10)
    stub_upstream.set_behaviour(credential="acct-busy", status=429, retryAfter=30)
    key = new_key(client, headers, "k")

    response = httpx.post(f"{server.url}/api/ai/chat?model={MODEL}",
                          json={**BODY, "stream": False}, headers={"x-api-key": key}, timeout=30)

    assert response.status_code == 200, response.text
    account = client.get(f"/api/accounts/{busy['id']}", headers=headers).json["data"]
    assert account["status"] == "rate_limited"


def proxy_config(proxy) -> dict:
    return {"type": proxy.scheme, "host": "127.0.0.1", "port": proxy.port,
            "username": proxy.username, "password": proxy.password}


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_an_account_whose_proxy_answers_garbage_is_failed_over(served, stub_upstream, scheme):
    server, client, headers = served
    with GarbageProxy(scheme) as proxy:
        add_account(client, headers, stub_upstream, "acct-garbage", priority=90,
                    proxyConfig=proxy_config(proxy))
        add_account(client, headers, stub_upstream, "acct-direct", priority=10)
        key = new_key(client, headers, "k")
        response = httpx.post(f"{server.url}/api/ai/chat?model={MODEL}",
                              json={**BODY, "stream": False}, headers={"x-api-key": key},
                              timeout=30)

    assert response.status_code == 200, response.text
    assert proxy.connections >= 1
    assert [r["credential"] for r in stub_upstream.requests()] == ["acct-direct"]


@pytest.fixture
def app_config(app_config):
    # Every test here: a silent proxy costs a request one second, not the default ten.
    return {**app_config, "upstream_connect_timeout": 1.0}


def test_a_silent_socks5_proxy_is_failed_over_within_the_connect_timeout(served,
                                                                         stub_upstream):
    server, client, headers = served
    with SilentProxy("socks5") as proxy:
        add_account(client, headers, stub_upstream, "acct-silent", priority=90,
                    proxyConfig=proxy_config(proxy))
        add_account(client, headers, stub_upstream, "acct-direct", priority=10)
        key = new_key(client, headers, "k")
        started = time.monotonic()
        response = httpx.post(f"{server.url}/api/ai/chat?model={MODEL}",
                              json={**BODY, "stream": False}, headers={"x-api-key": key},
                              timeout=15)
        elapsed = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert elapsed < 5
    assert proxy.connections == 1
    assert [r["credential"] for r in stub_upstream.requests()] == ["acct-direct"]

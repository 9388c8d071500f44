"""OAuth refresh against a local token endpoint (the stub), on both backends."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from app import services_of
from app.errors import UpstreamError
from tests.providers.local_proxies import HttpForwardProxy, Socks5Proxy
from tests.support.accounts import (
    api_key_body,
    oauth_body,
    quick_admin_headers,
    stub_token_urls,
    to_service,
)


@pytest.fixture
def app_config(app_config, stub_upstream):
    return {**app_config, **stub_token_urls(stub_upstream)}


def _create(services, body: dict) -> str:
    return services.accounts.create(to_service(body))["id"]


def _grants(stub) -> list[dict]:
    return stub.requests(format="oauth")


def test_a_refresh_stores_new_sealed_tokens_and_answers_the_new_access_token(
        services, stub_upstream):
    body = oauth_body("claude")
    account_id = _create(services, body)
    before = datetime.now(UTC)
    result = services.token_refresher.refresh(account_id)

    (grant,) = _grants(stub_upstream)
    assert grant["grantType"] == "refresh_token"
    assert grant["credential"] == body["oauthData"]["refreshToken"]
    assert grant["clientId"] == services.settings.oauth_client_id_claude
    assert result["access_token"].startswith("stub-at-")
    assert result["refreshed_at"] >= before
    assert result["expires_at"] >= before + timedelta(seconds=3500)
    account = services.accounts._get(account_id)
    box = services.accounts.box
    assert box.decrypt(account.access_token_sealed) == result["access_token"]
    assert box.decrypt(account.refresh_token_sealed).startswith("stub-rt-")
    assert services.accounts.get(account_id)["token_expires_at"] == result["expires_at"]


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_every_provider_refreshes_at_its_own_token_url(services, stub_upstream, provider):
    account_id = _create(services, oauth_body(provider))
    assert services.token_refresher.refresh(account_id)["access_token"].startswith("stub-at-")
    assert len(_grants(stub_upstream)) == 1


def test_the_refresh_route_answers_the_new_token_unmasked(client, services, stub_upstream):
    account_id = _create(services, oauth_body())
    response = client.post(f"/api/accounts/{account_id}/refresh",
                           headers=quick_admin_headers(services))
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert set(data) == {"accessToken", "expiresAt", "refreshedAt"}
    assert data["accessToken"].startswith("stub-at-")
    listed = client.get("/api/accounts", headers=quick_admin_headers(services)).json["data"]
    assert listed["accounts"][0]["accessToken"] == f"stub...{data['accessToken'][-4:]}"


def test_a_rejected_refresh_marks_the_account_error_with_the_providers_message(
        client, services, stub_upstream):
    body = oauth_body()
    account_id = _create(services, body)
    stub_upstream.set_behaviour(refreshToken=body["oauthData"]["refreshToken"], status=400,
                                message="Refresh token revoked by user", times=1)
    response = client.post(f"/api/accounts/{account_id}/refresh",
                           headers=quick_admin_headers(services))
    assert response.status_code == 502
    assert response.json["error"]["code"] == "OAUTH_REFRESH_REJECTED"
    assert "Refresh token revoked by user" in response.json["error"]["message"]
    detail = services.accounts.detail(account_id)
    assert detail["status"] == "error"
    assert "Refresh token revoked by user" in detail["error_message"]

    # The lock was released, and a later successful refresh revives the account.
    services.token_refresher.refresh(account_id)
    assert services.accounts.detail(account_id)["status"] == "active"


def test_a_failing_token_endpoint_leaves_the_account_as_it_was(services, stub_upstream):
    body = oauth_body()
    account_id = _create(services, body)
    stub_upstream.set_behaviour(refreshToken=body["oauthData"]["refreshToken"], status=503)
    with pytest.raises(UpstreamError) as raised:
        services.token_refresher.refresh(account_id)
    assert raised.value.code == "OAUTH_REFRESH_FAILED"
    assert services.accounts.detail(account_id)["status"] == "active"


def _refresh_twice_at_once(services, stub, body) -> list[dict]:
    account_id = _create(services, body)
    # A slow token endpoint keeps the first refresh in flight while the second one starts.
    stub.set_behaviour(refreshToken=body["oauthData"]["refreshToken"], delay=0.4)
    results, errors = [], []
    start = threading.Barrier(2)

    def refresh():
        start.wait()
        try:
            results.append(services.token_refresher.refresh(account_id))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_two_concurrent_refreshes_make_one_call_to_the_token_endpoint(services, stub_upstream):
    results = _refresh_twice_at_once(services, stub_upstream, oauth_body())
    assert len(_grants(stub_upstream)) == 1
    assert results[0]["access_token"] == results[1]["access_token"]


def test_two_concurrent_refreshes_make_one_call_on_postgres_without_redis(
        postgres_url, tmp_path, stub_upstream):
    from tests.support.apps import make_app

    app = make_app(tmp_path, postgres_url, None, **stub_token_urls(stub_upstream))
    try:
        services = services_of(app)
        results = _refresh_twice_at_once(services, stub_upstream, oauth_body())
    finally:
        services_of(app).engine.dispose()
    assert len(_grants(stub_upstream)) == 1
    assert results[0]["access_token"] == results[1]["access_token"]


@pytest.mark.parametrize("proxy_class, proxy_type", [(HttpForwardProxy, "http"),
                                                     (Socks5Proxy, "socks5")])
def test_a_refresh_goes_through_the_accounts_proxy(services, stub_upstream, proxy_class,
                                                   proxy_type):
    with proxy_class("carol", "s3cret:pass") as proxy:
        proxy_config = {"type": proxy_type, "host": "127.0.0.1", "port": proxy.port,
                        "username": "carol", "password": "s3cret:pass"}
        account_id = _create(services, oauth_body(proxyConfig=proxy_config))
        services.token_refresher.refresh(account_id)
    assert proxy.tunnels == [("127.0.0.1", stub_upstream.port)]
    assert proxy.refused == 0


def test_a_token_near_expiry_is_refreshed_before_use_and_a_fresh_one_is_not(
        services, stub_upstream):
    fresh = _create(services, oauth_body(priority=90, expires_in=7200))
    expiring = _create(services, oauth_body(priority=10, expires_in=60))

    with services.scheduler.acquire("claude", "model") as lease:
        assert lease.account.id == fresh
    assert _grants(stub_upstream) == []

    services.accounts.update_status(fresh, "inactive")
    with services.scheduler.acquire("claude", "model") as lease:
        assert lease.account.id == expiring
        margin = timedelta(seconds=services.settings.oauth_refresh_margin_seconds)
        assert lease.account.token_expires_at > datetime.now(UTC) + margin
        token = services.accounts.box.decrypt(lease.account.access_token_sealed)
        assert token.startswith("stub-at-")
    assert len(_grants(stub_upstream)) == 1


def test_an_account_whose_refresh_is_rejected_before_use_gives_way_to_the_next(
        services, stub_upstream):
    broken_body = oauth_body(priority=90, expires_in=30)
    broken = _create(services, broken_body)
    spare = _create(services, oauth_body(priority=10))
    stub_upstream.set_behaviour(refreshToken=broken_body["oauthData"]["refreshToken"],
                                status=401, message="invalid_grant")
    with services.scheduler.acquire("claude", "model") as lease:
        assert lease.account.id == spare
    assert services.accounts.detail(broken)["status"] == "error"


def test_an_api_key_account_is_never_refreshed(services, stub_upstream):
    account_id = _create(services, api_key_body("claude"))
    with services.scheduler.acquire("claude") as lease:
        assert lease.account.id == account_id
    assert _grants(stub_upstream) == []

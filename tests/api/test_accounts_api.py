"""The /api/accounts routes, on both backends."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.accounts import api_key_body, oauth_body, quick_admin_headers

SEED_GET_KEYS = {"id", "name", "description", "status", "tokenExpiresAt", "lastUsedAt",
                 "rateLimitStatus", "usageStats"}
PROXY = {"type": "socks5", "host": "127.0.0.1", "port": 1080, "username": "alice",
         "password": "proxy-pass-secret"}


@pytest.fixture
def admin_headers(services):
    return quick_admin_headers(services)


@pytest.fixture
def create(client, admin_headers):
    def make(body: dict) -> dict:
        response = client.post("/api/accounts", json=body, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json["data"]

    return make


def _total(client, headers) -> int:
    return client.get("/api/accounts", headers=headers).json["data"]["total"]


def test_creating_an_oauth_account_answers_the_seeds_shape(client, admin_headers):
    response = client.post("/api/accounts", json=oauth_body(description="main"),
                           headers=admin_headers)
    assert response.status_code == 201
    assert response.json["success"] is True
    assert set(response.json["data"]) == {"id", "name", "status", "createdAt"}
    assert response.json["data"]["status"] == "active"


def test_getting_an_account_answers_exactly_the_seeds_shape(client, admin_headers, create):
    body = oauth_body(description="main pool")
    created = create(body)
    data = client.get(f"/api/accounts/{created['id']}", headers=admin_headers).json["data"]
    assert set(data) == SEED_GET_KEYS
    assert data["description"] == "main pool"
    assert data["tokenExpiresAt"] is not None
    assert data["rateLimitStatus"] == {"remaining": None, "resetAt": None}
    assert data["usageStats"] == {"totalRequests": 0, "totalTokens": 0, "totalCost": 0}


def test_listing_shows_masked_credentials_and_never_a_refresh_token_or_proxy_password(
        client, admin_headers, create):
    oauth = oauth_body(proxyConfig=PROXY, baseUrl="https://api.anthropic.com")
    key = api_key_body()
    create(oauth)
    create(key)
    response = client.get("/api/accounts", headers=admin_headers)
    page = response.json["data"]
    assert page["total"] == 2 and page["page"] == 1 and page["totalPages"] == 1
    text = response.get_data(as_text=True)
    for secret in (oauth["oauthData"]["accessToken"], oauth["oauthData"]["refreshToken"],
                   key["apiKey"], PROXY["password"]):
        assert secret not in text
    by_kind = {row["credentialType"]: row for row in page["accounts"]}
    assert by_kind["oauth"]["accessToken"].endswith(oauth["oauthData"]["accessToken"][-4:])
    assert by_kind["oauth"]["proxyConfig"] == {"type": "socks5", "host": "127.0.0.1",
                                               "port": 1080, "username": "alice",
                                               "hasPassword": True}
    assert by_kind["oauth"]["baseUrl"] == "https://api.anthropic.com"
    assert by_kind["api_key"]["apiKey"].endswith(key["apiKey"][-4:])
    assert by_kind["api_key"]["accessToken"] is None


def test_listing_filters_by_provider_and_status(client, admin_headers, create):
    create(oauth_body("claude"))
    create(api_key_body("gemini"))
    response = client.get("/api/accounts?provider=gemini&status=active", headers=admin_headers)
    assert [row["provider"] for row in response.json["data"]["accounts"]] == ["gemini"]


def test_updating_changes_fields_and_keeps_an_unmentioned_proxy_password(
        client, admin_headers, create, services):
    created = create(oauth_body(proxyConfig=PROXY))
    response = client.patch(f"/api/accounts/{created['id']}", headers=admin_headers, json={
        "name": "renamed", "priority": 90, "maxConcurrency": 3,
        "proxyConfig": {"type": "http", "host": "proxy.internal", "port": 3128,
                        "username": "alice"},
    })
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert (data["name"], data["priority"], data["maxConcurrency"]) == ("renamed", 90, 3)
    assert data["proxyConfig"]["hasPassword"] is True
    account = services.accounts._get(created["id"])
    assert services.accounts.box.decrypt(account.proxy_password_sealed) == PROXY["password"]

    cleared = client.patch(f"/api/accounts/{created['id']}", headers=admin_headers,
                           json={"proxyConfig": None})
    assert cleared.json["data"]["proxyConfig"] is None


def test_a_new_credential_replaces_the_old_and_revives_an_account_in_error(
        client, admin_headers, create):
    created = create(oauth_body())
    client.post(f"/api/accounts/{created['id']}/status", headers=admin_headers,
                json={"status": "error", "metadata": {"errorMessage": "token revoked"}})
    response = client.patch(f"/api/accounts/{created['id']}", headers=admin_headers,
                            json={"apiKey": "sk-new-key-0123456789abcdef"})
    data = response.json["data"]
    assert data["credentialType"] == "api_key"
    assert data["accessToken"] is None and data["apiKey"] == "sk-n...cdef"
    assert data["status"] == "active" and data["errorMessage"] is None


def test_deleting_an_account_removes_it(client, admin_headers, create):
    created = create(api_key_body())
    assert client.delete(f"/api/accounts/{created['id']}",
                         headers=admin_headers).json == {"success": True, "data": {}}
    assert client.get(f"/api/accounts/{created['id']}", headers=admin_headers).status_code == 404
    assert _total(client, admin_headers) == 0


@pytest.mark.parametrize("method, suffix, body", [
    ("get", "", None), ("patch", "", {"name": "x"}), ("delete", "", None),
    ("post", "/refresh", None), ("post", "/status", {"status": "active"}),
])
def test_an_unknown_account_id_is_404(client, admin_headers, method, suffix, body):
    response = getattr(client, method)(f"/api/accounts/no-such-id{suffix}", json=body,
                                       headers=admin_headers)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "DB_RECORD_NOT_FOUND"


def test_the_routes_are_for_admins_only(client, services):
    key = services.keys.create({"name": "holder", "tags": ["x"]}).api_key
    assert client.get("/api/accounts").status_code == 401
    assert client.get("/api/accounts",
                      headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_the_status_route_sets_a_rate_limit_an_error_and_clears_them(client, admin_headers,
                                                                     create):
    account_id = create(api_key_body())["id"]
    url = f"/api/accounts/{account_id}"
    reset_at = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
    response = client.post(f"{url}/status", headers=admin_headers, json={
        "status": "rate_limited", "metadata": {"rateLimitResetAt": reset_at.isoformat()}})
    assert response.json == {"success": True, "data": {}}
    data = client.get(url, headers=admin_headers).json["data"]
    assert data["status"] == "rate_limited"
    assert datetime.fromisoformat(data["rateLimitStatus"]["resetAt"]) == reset_at
    assert data["rateLimitStatus"]["remaining"] == 0

    last = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    metadata = {"errorMessage": "banned", "lastRequestAt": last.isoformat()}
    client.post(f"{url}/status", headers=admin_headers,
                json={"status": "error", "metadata": metadata})
    detail = client.get("/api/accounts", headers=admin_headers).json["data"]["accounts"][0]
    assert (detail["status"], detail["errorMessage"]) == ("error", "banned")
    assert datetime.fromisoformat(detail["lastUsedAt"]) == last

    client.post(f"{url}/status", headers=admin_headers, json={"status": "active"})
    detail = client.get("/api/accounts", headers=admin_headers).json["data"]["accounts"][0]
    assert (detail["status"], detail["errorMessage"]) == ("active", None)
    assert detail["rateLimitStatus"] == {"remaining": None, "resetAt": None}


def test_available_accounts_follow_the_seeds_filters(client, admin_headers, create, services):
    plenty = create(api_key_body(name="plenty"))["id"]
    scarce = create(api_key_body(name="scarce"))["id"]
    unknown = create(api_key_body(name="unknown"))["id"]
    create(api_key_body(name="off"))
    recovering = create(api_key_body(name="recovering"))["id"]
    off = client.get("/api/accounts?limit=100", headers=admin_headers).json["data"]["accounts"]
    off_id = next(row["id"] for row in off if row["name"] == "off")
    client.post(f"/api/accounts/{off_id}/status", headers=admin_headers,
                json={"status": "inactive"})
    services.scheduler.record_rate_limit_status(plenty, 50_000, None)
    services.scheduler.record_rate_limit_status(scarce, 10, None)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    client.post(f"/api/accounts/{recovering}/status", headers=admin_headers,
                json={"status": "rate_limited", "metadata": {"rateLimitResetAt": past}})

    def names(query=""):
        response = client.get(f"/api/accounts/available{query}", headers=admin_headers)
        assert response.status_code == 200, response.json
        return sorted(row["name"] for row in response.json["data"])

    assert names() == ["plenty", "recovering", "scarce", "unknown"]
    assert names("?minTokensRemaining=1000") == ["plenty", "recovering", "unknown"]
    assert names("?status=inactive") == ["off"]
    assert names("?provider=claude") == []
    services.scheduler.record_rate_limit_status(scarce, 0, None)
    assert names("?rateLimitAvailable=true") == ["plenty", "recovering", "unknown"]
    assert unknown


@pytest.mark.parametrize("change, field", [
    ({"provider": "mistral"}, "provider"),
    ({"proxyConfig": {**PROXY, "port": 70000}}, "proxyConfig"),
    ({"proxyConfig": {**PROXY, "type": "ftp"}}, "proxyConfig"),
    ({"apiKey": None}, "apiKey"),
    ({"oauthData": None}, "oauthData"),
    ({"baseUrl": "ftp://example.com"}, "baseUrl"),
    ({"priority": -1}, "priority"),
    ({"maxConcurrency": 0}, "maxConcurrency"),
])
def test_bad_input_is_422_in_the_envelope_and_stores_nothing(client, admin_headers, change,
                                                             field):
    body = {**api_key_body(), **change}
    response = client.post("/api/accounts", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json["error"]["details"]
    assert _total(client, admin_headers) == 0


@pytest.mark.parametrize("credential", [{}, "both"])
def test_a_body_without_exactly_one_credential_is_422_and_stores_nothing(client, admin_headers,
                                                                          credential):
    body = {"name": "x", "provider": "claude"}
    if credential == "both":
        body.update(apiKey="sk-abc", oauthData=oauth_body()["oauthData"])
    response = client.post("/api/accounts", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert set(response.json["error"]["details"]) == {"oauthData", "apiKey"}
    assert _total(client, admin_headers) == 0


def test_a_bad_update_is_422_and_changes_nothing(client, admin_headers, create):
    created = create(api_key_body(name="before"))
    response = client.patch(f"/api/accounts/{created['id']}", headers=admin_headers,
                            json={"name": "after", "proxyConfig": {**PROXY, "port": 70000}})
    assert response.status_code == 422
    assert client.get(f"/api/accounts/{created['id']}",
                      headers=admin_headers).json["data"]["name"] == "before"


def test_refreshing_an_api_key_account_is_a_conflict(client, admin_headers, create):
    created = create(api_key_body())
    response = client.post(f"/api/accounts/{created['id']}/refresh", headers=admin_headers)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "NOT_OAUTH_ACCOUNT"


def test_the_openapi_document_lists_every_account_route(client):
    paths = client.get("/openapi.json").json["paths"]
    assert {"/api/accounts", "/api/accounts/available", "/api/accounts/{account_id}",
            "/api/accounts/{account_id}/refresh", "/api/accounts/{account_id}/status"} <= set(paths)


def test_the_supports_responses_flag_defaults_off_and_is_set_shown_and_changed(
        client, admin_headers, create):
    plain = create(api_key_body(name="plain"))
    flagged = create(api_key_body(name="flagged", supportsResponses=True))
    shown = {a["name"]: a["supportsResponses"]
             for a in client.get("/api/accounts", headers=admin_headers).json["data"]["accounts"]}
    assert shown == {"plain": False, "flagged": True}
    changed = client.patch(f"/api/accounts/{plain['id']}", json={"supportsResponses": True},
                           headers=admin_headers)
    assert changed.status_code == 200, changed.json
    refused = client.patch(f"/api/accounts/{flagged['id']}",
                           json={"supportsResponses": "maybe"}, headers=admin_headers)
    assert refused.status_code == 422
    shown = {a["name"]: a["supportsResponses"]
             for a in client.get("/api/accounts", headers=admin_headers).json["data"]["accounts"]}
    assert shown == {"plain": True, "flagged": True}

"""The console and the portal over the Flask client, on both backends: guard, CSRF, headers,
forms, and the key holders' JSON route."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import services_of
from app.web.guard import LOGIN_COOKIE, SESSION_COOKIE
from tests.support.apps import ADMIN, make_app

PAGES = ["/console/", "/console/?period=7d", "/console/?period=30d", "/console/keys",
         "/console/accounts"]
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def signed_in(client, services):
    services.admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    page = client.get("/console/login")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    answer = client.post("/console/login", data={**ADMIN, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer


def csrf_of(client, path="/console/keys") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def test_signing_in_sets_an_httponly_strict_session_cookie_and_every_page_answers(
        client, services):
    answer = signed_in(client, services)
    cookie = next(value for value in answer.headers.getlist("Set-Cookie")
                  if value.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; Secure is set behind HTTPS
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_secure_over_https(client, services):
    services.admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    page = client.get("/console/login", base_url="https://relaygate.test")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    answer = client.post("/console/login", data={**ADMIN, "csrf_token": token},
                         base_url="https://relaygate.test")
    cookie = next(value for value in answer.headers.getlist("Set-Cookie")
                  if value.startswith(f"{SESSION_COOKIE}="))
    assert "Secure" in cookie


def test_the_session_cookie_is_always_secure_in_production(tmp_path, sqlite_url):
    app = make_app(tmp_path, sqlite_url, env="production", secret_key="s" * 48,
                   metrics_token="m" * 32)
    client = app.test_client()
    answer = signed_in(client, services_of(app))
    cookie = next(value for value in answer.headers.getlist("Set-Cookie")
                  if value.startswith(f"{SESSION_COOKIE}="))
    assert "Secure" in cookie
    services_of(app).engine.dispose()


def test_console_and_portal_pages_forbid_inline_scripts_and_styles(client, services):
    signed_in(client, services)
    for path in [*PAGES, "/console/login", "/portal/"]:
        page = client.get(path)
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy, path
        assert "unsafe-inline" not in policy and "sha256-" not in policy, path
        html = page.get_data(as_text=True)
        assert "<script>" not in html and " style=" not in html and "<style" not in html, path
        assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "'sha256-" in client.get("/docs").headers["Content-Security-Policy"]


def test_without_a_session_pages_lead_to_the_sign_in_and_posts_are_refused(client):
    page = client.get("/console/keys?q=a")
    assert page.status_code == 302
    assert page.headers["Location"] == "/console/login?next=/console/keys?q%3Da" or \
        page.headers["Location"].startswith("/console/login?next=")
    assert client.post("/console/keys", data={"name": "x"}).status_code == 401


def test_a_post_without_its_csrf_token_changes_nothing(client, services, admin_headers):
    signed_in(client, services)
    before = client.get("/api/keys", headers=admin_headers).json["data"]["total"]
    assert client.post("/console/keys", data={"name": "x"}).status_code == 403
    assert client.post("/console/keys", data={"name": "x", "csrf_token": "0" * 64}) \
        .status_code == 403
    assert client.post("/console/keys", data={"name": "x"},
                       headers={"X-CSRF-Token": "f" * 64}).status_code == 403
    assert client.get("/api/keys", headers=admin_headers).json["data"]["total"] == before
    created = client.post("/console/keys", data={"name": "x"},
                          headers={"X-CSRF-Token": csrf_of(client)})
    assert created.status_code == 201
    assert client.get("/api/keys", headers=admin_headers).json["data"]["total"] == before + 1


def test_the_login_form_needs_its_own_token(client, services):
    services.admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    assert client.post("/console/login", data=ADMIN).status_code == 403
    client.get("/console/login")
    client.set_cookie(LOGIN_COOKIE, "another-browser", path="/console")
    assert client.post("/console/login", data={**ADMIN, "csrf_token": "0" * 64}) \
        .status_code == 403


def test_a_user_session_or_an_api_key_opens_no_admin_page(client, make_key, make_user,
                                                        user_session):
    key = make_key()
    user_token = user_session(make_user()["id"])["Authorization"].removeprefix("Bearer ")
    client.set_cookie(SESSION_COOKIE, user_token, path="/console")
    assert client.get("/console/keys").status_code == 403
    client.set_cookie(SESSION_COOKIE, key["apiKey"], path="/console")
    assert client.get("/console/keys").status_code == 302
    client.delete_cookie(SESSION_COOKIE, path="/console")
    for headers in ({"Authorization": f"Bearer {key['apiKey']}"}, {"x-api-key": key["apiKey"]},
                    {"Authorization": f"Bearer {user_token}"}):
        assert client.get("/console/", headers=headers).status_code == 302


def test_signing_out_ends_the_session_on_the_server(client, services):
    answer = signed_in(client, services)
    token = re.search(rf"{SESSION_COOKIE}=([^;]+)", answer.headers["Set-Cookie"]).group(1)
    assert client.post("/console/logout", data={"csrf_token": csrf_of(client)}) \
        .status_code == 302
    assert client.get("/api/sessions/current",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401
    client.set_cookie(SESSION_COOKIE, token, path="/console")
    assert client.get("/console/").status_code == 302


def test_the_keys_table_pages_past_twenty_five_keys(client, services):
    signed_in(client, services)
    for number in range(26):
        services.keys.create({"name": f"paged-{number:02d}"})
    first = client.get("/console/keys").get_data(as_text=True)
    assert "page 1 of 2" in first and "page=2" in first
    assert "page 2 of 2" in client.get("/console/keys?page=2").get_data(as_text=True)


def test_keys_are_created_searched_edited_revoked_and_restored(client, services):
    signed_in(client, services)
    token = csrf_of(client)
    created = client.post("/console/keys", data={
        "name": "Alpha_one", "tags": "team-a, trial", "tokenLimit": "1000",
        "dailyCostLimit": "2.5", "permissions": "openai", "expiresAt": "", "csrf_token": token})
    assert created.status_code == 201
    plaintext = re.search(r'id="new-key-plaintext">(rg_[0-9a-f]+)<', created.get_data(True))
    key_id = re.search(r'/console/keys/([0-9a-f-]{36})"', created.get_data(True)).group(1)
    assert plaintext
    client.post("/console/keys", data={"name": "beta", "csrf_token": token})
    listing = client.get("/console/keys?q=alpha_").get_data(as_text=True)
    assert "Alpha_one" in listing and "beta" not in listing
    assert "beta" in client.get("/console/keys?q=b").get_data(as_text=True)
    assert "Alpha_one" not in client.get("/console/keys?q=%25").get_data(as_text=True)
    tagged = client.get("/console/keys?tag=trial", headers={"HX-Request": "true",
                                                            "HX-Target": "keys-table"})
    assert tagged.get_data(as_text=True).startswith('<section id="keys-table"')
    assert "Alpha_one" in tagged.get_data(as_text=True)

    edited = client.post(f"/console/keys/{key_id}", data={
        "name": "Alpha_one", "tags": "team-b", "tokenLimit": "", "dailyCostLimit": "7",
        "requestsPerMinute": "60", "expiresAt": "2030-01-02T03:04", "csrf_token": token})
    assert edited.status_code == 302
    key = services.keys.get(key_id)
    assert (key.token_limit, float(key.daily_cost_limit), key.requests_per_minute) == \
        (None, 7.0, 60)
    assert key.tags == ["team-b"] and key.expires_at.isoformat().startswith("2030-01-02T03:04")
    refused = client.post(f"/console/keys/{key_id}", data={"name": "", "tokenLimit": "-5",
                                                           "csrf_token": token})
    assert refused.status_code == 422 and "tokenLimit" in refused.get_data(as_text=True)

    client.post(f"/console/keys/{key_id}/revoke", data={"csrf_token": token})
    assert services.keys.get(key_id).is_active is False
    assert "revoked" in client.get(f"/console/keys/{key_id}").get_data(as_text=True)
    client.post(f"/console/keys/{key_id}/restore", data={"csrf_token": token})
    assert services.keys.get(key_id).is_active is True


def test_accounts_are_added_tested_and_deactivated(client, services, stub_upstream):
    signed_in(client, services)
    token = csrf_of(client, "/console/accounts")
    added = client.post("/console/accounts", data={
        "name": "stub", "provider": "openai", "credential": "api_key", "apiKey": "sk-x",
        "accessToken": "", "refreshToken": "", "expiresAt": "",
        "baseUrl": stub_upstream.url + "/v1",
        "priority": "70", "csrf_token": token})
    assert added.status_code == 302, added.get_data(as_text=True)
    oauth = client.post("/console/accounts", data={
        "name": "sub", "provider": "claude", "credential": "oauth", "apiKey": "",
        "accessToken": "at-1", "refreshToken": "rt-1", "expiresAt": "2030-01-01T00:00",
        "proxyType": "socks5", "proxyHost": "127.0.0.1", "proxyPort": "1080",
        "proxyUsername": "me", "proxyPassword": "secret", "csrf_token": token})
    assert oauth.status_code == 302, oauth.get_data(as_text=True)
    accounts = {a["name"]: a for a in services.accounts.list(limit=10)["accounts"]}
    assert accounts["stub"]["priority"] == 70 and accounts["sub"]["credential_type"] == "oauth"
    assert accounts["stub"]["proxy_config"] is None
    assert accounts["sub"]["proxy_config"] == {"type": "socks5", "host": "127.0.0.1",
                                               "port": 1080, "username": "me",
                                               "has_password": True}
    tested = client.post(f"/console/accounts/{accounts['stub']['id']}/test",
                         headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert tested.status_code == 200 and ">200<" in tested.get_data(as_text=True)
    assert re.search(r"</span> \d+ ms · ", tested.get_data(as_text=True))
    stub_id = accounts["stub"]["id"]
    assert "sk-x" not in client.get(f"/console/accounts/{stub_id}").get_data(as_text=True)
    edited = client.post(f"/console/accounts/{stub_id}", data={
        "name": "stub-2", "priority": "10", "maxConcurrency": "3", "baseUrl":
        stub_upstream.url + "/v1", "apiKey": "", "description": "", "csrf_token": token})
    assert edited.status_code == 302, edited.get_data(as_text=True)
    changed = services.accounts.detail(stub_id)
    assert (changed["name"], changed["priority"], changed["max_concurrency"]) == ("stub-2", 10, 3)
    assert changed["api_key"] is not None  # the empty field kept the stored key
    client.post(f"/console/accounts/{accounts['stub']['id']}/deactivate",
                data={"csrf_token": token})
    assert services.accounts.get(accounts["stub"]["id"])["status"] == "inactive"
    page = client.get("/console/accounts").get_data(as_text=True)
    assert "Activate" in page


def test_a_key_sees_its_own_usage_limits_and_models_and_nothing_else(client, make_key,
                                                                     admin_headers):
    mine = make_key(tokenLimit=1000, dailyCostLimit=3, permissions="openai")
    other = make_key()
    recorded = client.post(f"/api/keys/{other['id']}/usage", json={
        "model": "openai/gpt-4o-mini", "inputTokens": 10, "outputTokens": 5},
        headers=admin_headers)
    assert recorded.status_code == 201, recorded.json
    client.post(f"/api/keys/{mine['id']}/usage", json={
        "model": "openai/gpt-4o", "inputTokens": 100, "outputTokens": 20},
        headers=admin_headers)
    report = client.get("/api/keys/me/usage", headers={"x-api-key": mine["apiKey"]}).json["data"]
    assert report["key"]["id"] == mine["id"]
    assert [m["name"] for m in report["models"]] == ["openai/gpt-4o"]
    assert report["summary"]["totalRequests"] == 1
    tokens = next(item for item in report["limits"] if item["name"] == "tokens")
    assert (tokens["limit"], tokens["used"], tokens["remaining"]) == (1000, 120, 880)
    assert {m["provider"] for m in report["allowedModels"]} == {"openai"}
    plans = {item["name"]: item for item in report["limits"] if item["name"].startswith("plan:")}
    assert set(plans) == {"plan:free:basic", "plan:free:premium"}
    assert (plans["plan:free:basic"]["limit"], plans["plan:free:basic"]["remaining"]) == (50, 50)
    assert datetime.fromisoformat(plans["plan:free:basic"]["resetsAt"]) > datetime.now(UTC)
    assert client.get("/api/keys/me/usage", headers=admin_headers).status_code == 401
    assert client.get("/api/keys/me/usage").status_code == 401


def test_vendored_assets_are_served_with_their_licences_and_shipped_in_the_package(client):
    root = Path(__file__).resolve().parents[2]
    for folder, asset in (("htmx.org", "htmx.min.js"), ("chart.js", "chart.umd.js")):
        path = root / "app" / "static" / "vendor" / folder
        assert (path / "LICENSE").read_text().strip()
        assert (path / "VERSION").read_text().startswith(folder + "@")
        with client.get(f"/static/vendor/{folder}/{asset}") as answer:
            assert answer.status_code == 200
    pyproject = (root / "pyproject.toml").read_text()
    assert '"static/vendor/*/*"' in pyproject and '"web/templates/*/*.html"' in pyproject


@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_the_dashboard_counts_recorded_usage_for_each_period(client, services, make_key,
                                                             admin_headers, period):
    key = make_key(name="spender")
    client.post(f"/api/keys/{key['id']}/usage", json={
        "model": "openai/gpt-4o-mini", "inputTokens": 1000, "outputTokens": 500,
        "cost": "1.25"}, headers=admin_headers)
    signed_in(client, services)
    page = client.get(f"/console/?period={period}").get_data(as_text=True)
    assert re.search(r'id="total-requests">1<', page)
    assert re.search(r'id="total-cost">\$1\.2500<', page)
    assert "spender" in page and "openai/gpt-4o-mini" in page


def test_the_read_only_pages_show_the_catalogue_the_explorer_and_operations(
        client, services, make_key, admin_headers, backend):
    key = make_key(name="explored")
    client.post(f"/api/keys/{key['id']}/usage", json={
        "model": "openai/gpt-4o", "inputTokens": 10, "outputTokens": 5, "cost": "0.5"},
        headers=admin_headers)
    signed_in(client, services)
    catalogue = client.get("/console/catalogue").get_data(as_text=True)
    assert "openai/gpt-4o-mini" in catalogue and "50 / day" in catalogue
    explorer = client.get("/console/usage?groupBy=model").get_data(as_text=True)
    assert re.search(r'id="explorer-requests">1<', explorer) and "openai/gpt-4o" in explorer
    filtered = client.get("/console/usage?model=openai/gpt-5").get_data(as_text=True)
    assert re.search(r'id="explorer-requests">0<', filtered)
    csv = client.get("/console/usage?groupBy=model&format=csv")
    assert csv.mimetype == "text/csv" and "openai/gpt-4o" in csv.get_data(as_text=True)
    assert client.get("/console/usage?from=not-a-day").status_code == 422
    paris = client.get("/console/usage?timezone=Europe/Paris&groupBy=model&from=2020-01-01"
                       "&to=2030-01-01&granularity=month").get_data(as_text=True)
    assert re.search(r'id="explorer-requests">1<', paris)
    assert re.search(r"<td>20\d\d-\d\d-01T00:00:00\+0[12]:00</td><td>openai/gpt-4o</td>", paris)
    assert client.get("/console/usage?timezone=Asia/Kolkata").status_code == 422
    operations = client.get("/console/operations").get_data(as_text=True)
    assert 'id="db-status">connected<' in operations
    assert "<tr><td>apikey</td><td>postgres</td><td>cache_first</td><td>write_through</td>" \
        in operations
    assert "<td>usage</td><td>postgres</td><td>database_first</td>" in operations
    assert re.search(r"· pool total \S+ idle", operations)
    if backend == "postgres":
        assert 'id="redis-status">connected<' in operations
        assert "dead letters" in operations
    else:
        assert "not configured" in operations


def test_an_openai_accounts_form_sets_whether_it_serves_the_responses_api(client, services,
                                                                          stub_upstream):
    signed_in(client, services)
    token = csrf_of(client, "/console/accounts")
    for name, provider in (("gpt", "openai"), ("cl", "claude")):
        client.post("/console/accounts", data={
            "name": name, "provider": provider, "credential": "api_key", "apiKey": "sk-x",
            "csrf_token": token})
    accounts = {a["name"]: a["id"] for a in services.accounts.list(limit=10)["accounts"]}
    assert 'name="supportsResponses"' in client.get(
        f"/console/accounts/{accounts['gpt']}").get_data(as_text=True)
    assert 'name="supportsResponses"' not in client.get(
        f"/console/accounts/{accounts['cl']}").get_data(as_text=True)
    for value in (True, False):
        edited = client.post(f"/console/accounts/{accounts['gpt']}", data={
            "name": "gpt", "supportsResponses": str(value).lower(), "csrf_token": token})
        assert edited.status_code == 302, edited.get_data(as_text=True)
        assert services.accounts.detail(accounts["gpt"])["supports_responses"] is value

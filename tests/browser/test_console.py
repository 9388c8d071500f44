"""The admin console and the key holders' portal in headless Chromium, against the stub upstream.

One admin's afternoon: sign in, create a key and copy it, add an account on the stub, relay
requests with the key, read them on the dashboard and the key's chart, look at the portal with
that key and with another, revoke the key and see the relay refuse it, sign out. Every page is
saved as a screenshot (see conftest.screenshots).
"""

from __future__ import annotations

import re

import httpx
import pytest

from app import services_of
from tests.api.chat_support import BODY, MODEL
from tests.support.apps import ADMIN, login_headers, make_app
from tests.support.http import ServerThread
from tests.support.servers import free_port

REQUESTS = 3


@pytest.fixture
def served(tmp_path, sqlite_url):
    app = make_app(tmp_path, sqlite_url)
    services_of(app).admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    with ServerThread(app, free_port()) as server:
        yield app, server.url
    services_of(app).engine.dispose()


@pytest.fixture
def page_errors():
    return []


def new_page(browser, base, errors, **options):
    context = browser.new_context(base_url=base, viewport={"width": 1360, "height": 900},
                                  **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    # Any script error or CSP violation (they are logged as console errors) fails the test.
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def sign_in(page) -> None:
    page.goto("/console/")
    assert page.url.endswith("/console/login?next=/console/")
    page.fill("input[name=username]", ADMIN["username"])
    page.fill("input[name=password]", ADMIN["password"])
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/console/")


def relay(base: str, key: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/chat/completions", json={**BODY, "model": MODEL,
                                                           "stream": False},
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_an_admin_creates_a_key_relays_with_it_reads_its_usage_and_revokes_it(
        browser, served, stub_upstream, screenshots, page_errors):
    app, base = served
    page = new_page(browser, base, page_errors,
                    permissions=["clipboard-read", "clipboard-write"])
    page.goto("/console/")
    page.screenshot(path=screenshots / "01-login.png")
    sign_in(page)

    page.goto("/console/keys")
    page.click("#new-key summary")
    page.fill("#new-key input[name=name]", "afternoon-key")
    page.fill("#new-key input[name=tags]", "team-a, trial")
    page.fill("#new-key input[name=tokenLimit]", "500000")
    page.fill("#new-key input[name=dailyCostLimit]", "5")
    page.screenshot(path=screenshots / "02-keys-create-form.png")
    with page.expect_navigation():  # to the new page's load: its copy script has run
        page.click("#new-key button[type=submit]")
    shown = page.text_content("#new-key-plaintext").strip()
    assert shown.startswith("rg_")
    page.click("#copy-key")
    page.wait_for_selector(".copied:has-text('Copied')")
    key = page.evaluate("navigator.clipboard.readText()")
    assert key == shown
    page.screenshot(path=screenshots / "03-key-created.png")

    page.goto("/console/keys")
    page.fill("input[name=q]", "zzz")  # htmx swaps the table in as one types
    page.wait_for_selector("#keys-table td:has-text('No key matches.')")
    page.fill("input[name=q]", "afternoon")
    page.wait_for_selector("#keys-table a:has-text('afternoon-key')")
    assert page.url.endswith("/console/keys?q=afternoon&status=&permissions=&tag=&sort=created")
    page.screenshot(path=screenshots / "03b-keys-search.png")

    page.goto("/console/accounts")
    page.click("#new-account summary")
    page.fill("#new-account input[name=name]", "stub-openai")
    page.select_option("#new-account select[name=provider]", "openai")
    page.fill("#new-account input[name=apiKey]", "sk-stub-console")
    page.fill("#new-account input[name=baseUrl]", stub_upstream.url + "/v1")
    with page.expect_navigation():  # the redirect's page loaded: htmx drives its buttons
        page.click("#new-account button[type=submit]")
    page.wait_for_selector("td:has-text('stub-openai')")
    page.click("button.test")
    result = page.wait_for_selector(".test-result .badge")
    assert result.text_content().strip() == "200"
    page.screenshot(path=screenshots / "04-accounts.png", full_page=True)

    for _ in range(REQUESTS):
        answer = relay(base, key)
        assert answer.status_code == 200, answer.text

    page.goto("/console/")
    assert page.text_content("#total-requests").strip() == str(REQUESTS)
    cost = page.text_content("#total-cost").strip()
    assert float(cost.lstrip("$").replace(",", "")) > 0
    page.wait_for_selector("figure.chart[data-drawn=true] canvas")
    assert page.locator("figure.chart[data-drawn=true]").count() == 3
    assert page.locator("a:has-text('afternoon-key')").count() == 1  # top keys by cost
    assert page.locator("td:has-text('stub-openai')").count() == 1  # top accounts by cost
    page.screenshot(path=screenshots / "05-dashboard.png", full_page=True)

    page.click("a:has-text('afternoon-key')")
    page.wait_for_selector("#key-requests")
    assert page.text_content("#key-requests").strip() == str(REQUESTS)
    assert page.text_content("#key-cost").strip() == cost  # the one key spent it all
    page.wait_for_selector("figure.chart[data-drawn=true] canvas")
    requests_chart = page.locator("figure.chart", has_text="Requests").first
    counted = requests_chart.locator("td[data-value]").evaluate_all(
        "cells => cells.map(cell => Number(cell.dataset.value))")
    assert sum(counted) == REQUESTS
    page.screenshot(path=screenshots / "06-key.png", full_page=True)
    key_page = page.url

    for path, name, marker in (("/console/usage?groupBy=model", "07-usage-explorer", MODEL),
                               ("/console/catalogue", "08-users-plans-models", "gpt-4o-mini"),
                               ("/console/operations", "09-operations", "connected")):
        page.goto(path)
        assert page.locator("main", has_text=marker).count() == 1, path
        page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    page.goto("/console/usage")
    assert page.text_content("#explorer-requests").strip() == str(REQUESTS)

    other = app.test_client().post("/api/keys", json={"name": "someone-else",
                                                      "tokenLimit": 1000},
                                   headers=login_headers(app)).json["data"]
    portal = new_page(browser, base, page_errors)
    portal.goto("/portal/")
    portal.screenshot(path=screenshots / "10-portal-empty.png")
    portal.fill("#portal-key", key)
    portal.click("#portal-form button[type=submit]")
    portal.wait_for_selector("#portal-report:not([hidden])")
    assert portal.text_content("#portal-key-name") == "afternoon-key"
    assert portal.locator("#portal-models td", has_text=MODEL).count() == 1
    assert portal.locator("#portal-models tbody tr").first.locator("td").nth(1) \
        .text_content() == str(REQUESTS)
    limits = portal.locator("#portal-limits tbody tr", has_text="Tokens (total)")
    assert "500,000" in limits.text_content()
    basic = portal.locator("#portal-limits tbody tr", has_text="basic models").locator("td")
    assert basic.nth(2).text_content() == str(REQUESTS)  # the plan's quota counted the relays
    portal.wait_for_selector("#portal-charts figure.chart[data-drawn=true] canvas")
    assert portal.evaluate("sessionStorage.getItem('relaygate.portalKey')") == key
    assert portal.evaluate("localStorage.length") == 0
    assert portal.context.cookies() == []
    portal.screenshot(path=screenshots / "11-portal-key.png", full_page=True)

    portal.click("#portal-forget")
    portal.fill("#portal-key", other["apiKey"])
    portal.click("#portal-form button[type=submit]")
    portal.wait_for_selector("#portal-key-name:has-text('someone-else')")
    assert portal.locator("#portal-models td", has_text="Nothing yet.").count() == 1
    assert "afternoon-key" not in portal.content()
    assert "1,000" in portal.locator("#portal-limits tbody tr",
                                     has_text="Tokens (total)").text_content()
    portal.screenshot(path=screenshots / "12-portal-other-key.png", full_page=True)

    page.goto(key_page)
    page.click("#revoke")
    page.wait_for_selector("#key-status:has-text('revoked')")
    page.screenshot(path=screenshots / "13-key-revoked.png", full_page=True)
    refused = relay(base, key)
    assert refused.status_code == 401, refused.text

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "rg_console")
    page.click(".logout button")
    page.wait_for_url("**/console/login")
    ended = httpx.get(f"{base}/api/sessions/current",
                      headers={"Authorization": f"Bearer {token}"})
    assert ended.status_code == 401
    assert page_errors == []


def test_only_an_admin_session_cookie_with_its_csrf_token_changes_anything(
        browser, served, screenshots, page_errors):
    app, base = served
    host = re.sub(r"^http://", "", base).split(":")[0]
    client, headers = app.test_client(), login_headers(app)
    key = client.post("/api/keys", json={"name": "holder"}, headers=headers).json["data"]
    user = client.post("/api/users", json={"email": "u@example.com"}, headers=headers)
    user_token = client.post("/api/sessions", json={"userId": user.json["data"]["id"],
                                                    "userType": "user"},
                             headers=headers).json["data"]["sessionToken"]

    as_user = new_page(browser, base, [])
    as_user.context.add_cookies([{"name": "rg_console", "value": user_token, "domain": host,
                                  "path": "/console"}])
    answer = as_user.goto("/console/keys")
    assert answer.status == 403
    assert "for admins only" in as_user.content()
    as_user.screenshot(path=screenshots / "14-user-session-refused.png")

    for options in ({"extra_http_headers": {"Authorization": f"Bearer {key['apiKey']}"}},
                    {"extra_http_headers": {"x-api-key": key["apiKey"]}},
                    {"extra_http_headers": {"Authorization": f"Bearer {user_token}"}}):
        with_key = new_page(browser, base, [], **options)
        with_key.goto("/console/keys")
        assert with_key.url.endswith("/console/login?next=/console/keys")
    with_key.context.add_cookies([{"name": "rg_console", "value": key["apiKey"],
                                   "domain": host, "path": "/console"}])
    with_key.goto("/console/keys")
    assert with_key.url.endswith("/console/login?next=/console/keys")

    page = new_page(browser, base, page_errors)
    sign_in(page)
    before = client.get("/api/keys", headers=headers).json["data"]["total"]
    for form in ({"name": "no-token"}, {"name": "bad-token", "csrf_token": "0" * 64}):
        refused = page.request.post(f"{base}/console/keys", form=form)
        assert refused.status == 403
        assert "CSRF" in refused.text()
    refused = page.request.post(f"{base}/console/logout", form={})
    assert refused.status == 403
    login_csrf = new_page(browser, base, []).request.post(
        f"{base}/console/login", form={"username": ADMIN["username"],
                                       "password": ADMIN["password"]})
    assert login_csrf.status == 403
    assert client.get("/api/keys", headers=headers).json["data"]["total"] == before
    page.goto("/console/keys")  # still signed in: the refused logout ended nothing
    assert page.url.endswith("/console/keys")
    assert page_errors == []

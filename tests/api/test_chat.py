"""The chat routes over the Flask client against the real stub upstream, on both backends."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from app import services_of
from tests.api.chat_support import BODY, MODEL, add_account, key_usage, set_quota

ROUTES = ["/api/ai/chat", "/api/ai/chat-optimized", "/api/ai/chat-fast"]


@pytest.fixture
def upstream(client, admin_headers, stub_upstream):
    add_account(client, admin_headers, stub_upstream, "acct-a")
    return stub_upstream


def drain(app) -> None:
    """Store what chat-fast queued, as the drain-usage worker does."""
    queue = services_of(app).usage_queue
    if queue is not None:
        queue.drain_once("tests")


@pytest.mark.parametrize("route", ROUTES)
def test_each_route_answers_and_records_usage_exactly_once(app, client, admin_headers,
                                                           make_key, upstream, route):
    key = make_key()
    response = client.post(f"{route}?model={MODEL}", json={**BODY, "stream": False},
                           headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["content"].startswith("The quick brown fox")
    assert data["usage"]["outputTokens"] == 12 and data["usage"]["cost"] > 0
    drain(app)
    drain(app)
    usage = key_usage(client, admin_headers, key["id"])
    assert usage["totalRequests"] == 1
    assert usage["totalOutputTokens"] == 12
    assert usage["totalCost"] == data["usage"]["cost"]
    assert len(upstream.requests()) == 1


@pytest.mark.parametrize("route", ROUTES)
def test_a_streamed_answer_ends_with_the_recorded_usage(app, client, admin_headers, make_key,
                                                        upstream, route):
    key = make_key()
    response = client.post(f"{route}?model={MODEL}", json=BODY,
                           headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    text = response.get_data(as_text=True)
    assert text.count("data: {") >= 12
    assert "event: usage" in text and '"outputTokens":12' in text
    drain(app)
    assert key_usage(client, admin_headers, key["id"])["totalRequests"] == 1


@pytest.mark.parametrize("route", ROUTES)
def test_sixty_concurrent_chats_against_a_quota_of_25_let_exactly_25_through(
        app, client, admin_headers, make_key, upstream, route):
    set_quota(client, admin_headers, 25)
    key = make_key()

    def chat(_):
        response = app.test_client().post(f"{route}?model={MODEL}",
                                          json={**BODY, "stream": False},
                                          headers={"x-api-key": key["apiKey"]})
        return response.status_code, (response.json or {}).get("error", {}).get("code")

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(chat, range(60)))
    assert sum(1 for status, _ in results if status == 200) == 25
    refused = [code for status, code in results if status == 429]
    assert len(refused) == 35 and set(refused) == {"BASIC_LIMIT_EXCEEDED"}
    check = client.get(f"/api/usage/check?model={MODEL}", headers={"x-api-key": key["apiKey"]})
    assert check.status_code == 429  # chat-fast's units count before the drain stores them
    drain(app)
    assert key_usage(client, admin_headers, key["id"])["totalRequests"] == 25
    check = client.get(f"/api/usage/check?model={MODEL}", headers={"x-api-key": key["apiKey"]})
    assert check.status_code == 429 and check.json["error"]["details"]["used"] == 25
    assert len(upstream.requests()) == 25


@pytest.mark.parametrize("route", ROUTES)
def test_an_upstream_429_moves_the_request_to_the_next_account(app, client, admin_headers,
                                                               make_key, stub_upstream, route):
    first = add_account(client, admin_headers, stub_upstream, "acct-busy", priority=90)
    add_account(client, admin_headers, stub_upstream, "acct-spare", priority=10)
    stub_upstream.set_behaviour(credential="acct-busy", status=429, retryAfter=30)
    key = make_key()
    response = client.post(f"{route}?model={MODEL}", json={**BODY, "stream": False},
                           headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 200, response.json
    assert [r["credential"] for r in stub_upstream.requests()] == ["acct-busy", "acct-spare"]
    busy = client.get(f"/api/accounts/{first['id']}", headers=admin_headers).json["data"]
    assert busy["status"] == "rate_limited"
    drain(app)
    assert key_usage(client, admin_headers, key["id"])["totalRequests"] == 1


@pytest.mark.parametrize("route", ROUTES)
def test_an_upstream_500_on_every_account_is_502_and_bills_nothing(app, client, admin_headers,
                                                                   make_key, stub_upstream,
                                                                   route):
    for name in ("acct-x", "acct-y"):
        add_account(client, admin_headers, stub_upstream, name)
        stub_upstream.set_behaviour(credential=name, status=500)
    key = make_key()
    response = client.post(f"{route}?model={MODEL}", json={**BODY, "stream": False},
                           headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 502
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "UPSTREAM_ERROR"
    drain(app)
    assert key_usage(client, admin_headers, key["id"])["totalRequests"] == 0
    check = client.get(f"/api/usage/check?model={MODEL}", headers={"x-api-key": key["apiKey"]})
    assert check.json["data"]["usage"]["used"] == 0


def test_a_model_of_a_provider_the_key_may_not_use_is_403(client, make_key, upstream):
    key = make_key(permissions="claude")
    response = client.post(f"/api/ai/chat?model={MODEL}", json={**BODY, "stream": False},
                           headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "PROVIDER_NOT_ALLOWED"
    assert upstream.requests() == []


def test_bad_chat_input_is_refused_before_anything_goes_upstream(client, make_key, upstream):
    key = {"x-api-key": make_key()["apiKey"]}
    assert client.post("/api/ai/chat", json=BODY, headers=key).status_code == 422
    assert client.post(f"/api/ai/chat?model={MODEL}", json={"messages": []},
                       headers=key).status_code == 422
    assert client.post(f"/api/ai/chat?model={MODEL}", json={"messages": "hi"},
                       headers=key).status_code == 422
    assert client.post("/api/ai/chat?model=no/such-model", json=BODY,
                       headers=key).status_code == 404
    assert client.post(f"/api/ai/chat?model={MODEL}", json=BODY).status_code == 401
    assert upstream.requests() == []


def test_the_query_model_wins_over_the_body_model(client, make_key, upstream):
    key = make_key()
    response = client.post(f"/api/ai/chat?model={MODEL}",
                           json={**BODY, "stream": False, "model": "no/such-model"},
                           headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 200
    body_only = client.post("/api/ai/chat", json={**BODY, "stream": False, "model": MODEL},
                            headers={"x-api-key": key["apiKey"]})
    assert body_only.status_code == 200


def test_check_access_says_whether_an_account_is_free(client, admin_headers, make_key,
                                                      stub_upstream):
    key = {"x-api-key": make_key()["apiKey"]}
    none = client.get(f"/api/ai/check-access?model={MODEL}", headers=key)
    assert none.status_code == 200
    assert none.json["data"]["access"]["accountAvailable"] is False
    add_account(client, admin_headers, stub_upstream, "acct-a")
    some = client.get(f"/api/ai/check-access?model={MODEL}", headers=key).json["data"]
    assert some["canProceed"] is True and some["access"]["accountAvailable"] is True
    assert some["usage"] == {"used": 0, "limit": 50, "modelType": "basic"}


def test_old_and_new_routes_give_the_same_result(client, admin_headers, make_key, upstream):
    key = {"x-api-key": make_key()["apiKey"]}
    new = client.post(f"/api/ai/chat?model={MODEL}", json={**BODY, "stream": False},
                      headers=key)
    old = client.post(f"/api/hasNotEngine?model={MODEL}", json={**BODY, "stream": False},
                      headers=key, follow_redirects=True)
    assert old.status_code == new.status_code == 200
    assert old.json["data"]["content"] == new.json["data"]["content"]
    assert set(old.json["data"]) == set(new.json["data"])
    old_check = client.post("/api/hasEngine", json={"model": MODEL}, headers=key,
                            follow_redirects=True)
    new_check = client.get(f"/api/ai/check-access?model={MODEL}", headers=key)
    assert old_check.json["data"]["access"] == new_check.json["data"]["access"]


def test_the_chat_route_counts_a_request_against_the_tier_it_reads_fresh(
        app, client, admin_headers, make_key, upstream):
    services = services_of(app)
    assert services.models.resolve(MODEL)["model_type"] == "basic"  # cached where Redis is
    response = client.put("/api/plans/free/premium", json={"limit": 0, "period": "day"},
                          headers=admin_headers)
    assert response.status_code == 200, response.json
    with services.uow() as uow:  # behind the catalogue's back: its cached entry stays basic
        uow.models.get(MODEL).model_type = "premium"
        uow.commit()
    key = make_key()
    response = client.post(f"/api/ai/chat?model={MODEL}", json={**BODY, "stream": False},
                           headers={"x-api-key": key["apiKey"]})
    assert response.status_code == 429, response.json
    assert len(upstream.requests()) == 0

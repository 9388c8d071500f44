"""A key's window limits over HTTP on both backends (Redis's script, or the database's row lock
without Redis): a sliding cost window charged from each answer's recorded cost, and a request
window that admits exactly its limit under concurrency over every chat route and two app
instances; on keys made through the API and on keys imported from claude-relay-service."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from sqlalchemy import func, select

from app import services_of
from app.db.models import KeyWindowHold, UsageEvent
from app.services.keys.windows import WindowHold
from tests.api.chat_support import BODY, MODEL, add_account, set_quota
from tests.migration.crs_limits import issued_key
from tests.support.apps import login_headers, make_app
from tests.support.quota import Clock

SOURCES = ["api", "crs"]
CONCURRENT, WINDOW_REQUESTS = 50, 10


def add_accounts(client, headers, stub) -> None:
    add_account(client, headers, stub, "acct-openai")
    add_account(client, headers, stub, "acct-claude", provider="claude", baseUrl=stub.url)
    set_quota(client, headers, 1000)
    premium = client.put("/api/plans/free/premium", json={"limit": 1000, "period": "day"},
                         headers=headers)
    assert premium.status_code == 200, premium.json
    stub.set_behaviour(credential="acct-openai", delay=0.3)  # requests overlap
    stub.set_behaviour(credential="acct-claude", delay=0.3)


@pytest.fixture
def upstream(client, admin_headers, stub_upstream):
    add_accounts(client, admin_headers, stub_upstream)
    return stub_upstream


def request(route: str) -> tuple[str, dict]:
    """(path, body) of one chat on `route`."""
    if route == "/v1/messages":
        return route, {"model": "claude-sonnet-4-5", "max_tokens": 50, **BODY}
    if route == "/v1/chat/completions":
        return route, {**BODY, "model": MODEL, "stream": False}
    return f"{route}?model={MODEL}", {**BODY, "stream": False}


ROUTES = ("/api/ai/chat-fast", "/v1/chat/completions", "/v1/messages")


def settle_all(*apps) -> None:
    """Store what chat-fast and the client-protocol routes queued, as the drain worker does."""
    for application in apps:
        queue = services_of(application).usage_queue
        if queue is not None:
            queue.drain_once("tests")


def no_hold_left(services, key_id: str) -> bool:
    with services.uow() as uow:
        rows = uow.session.scalar(select(func.count()).select_from(KeyWindowHold))
    store = services.key_windows.store
    if store is None or not store.redis.enabled:
        return rows == 0
    state = store.redis.client.hgetall(store.keys(key_id)[2])
    return rows == 0 and not [name for name in state if name.startswith(b"h:")]


def stored(services, key_id: str) -> int:
    with services.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(UsageEvent)
                                  .where(UsageEvent.api_key_id == key_id))


@pytest.mark.parametrize("source", SOURCES)
def test_a_five_hour_cost_window_refuses_once_recorded_cost_reaches_it_and_admits_as_it_slides(
        app, client, upstream, source):
    key = issued_key(app, source, "cost_windowed")  # 0.00002 USD per 300 minutes
    services = services_of(app)
    start = datetime.now(UTC).replace(microsecond=0)
    clock = services.usage.clock = services.key_windows.clock = Clock(start)
    path, body = request("/api/ai/chat")
    headers = {"x-api-key": key["apiKey"]}

    statuses = []
    for minute in range(4):  # each answer records 0.0000075 USD
        clock.now = start + timedelta(minutes=minute)
        statuses.append(client.post(path, json=body, headers=headers))
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    refused = statuses[-1]
    assert refused.json["error"]["code"] == "WINDOW_COST_LIMIT_EXCEEDED"
    assert refused.headers["Retry-After"] == str(297 * 60)  # when the first answer slides out

    clock.now = start + timedelta(minutes=300, seconds=-1)
    assert client.post(path, json=body, headers=headers).status_code == 429
    clock.now = start + timedelta(minutes=300)
    assert client.post(path, json=body, headers=headers).status_code == 200
    assert client.post(path, json=body, headers=headers).status_code == 429
    assert stored(services, key["id"]) == 4 and no_hold_left(services, key["id"])


@pytest.mark.parametrize("source", SOURCES)
def test_fifty_concurrent_requests_over_every_route_against_a_window_of_ten_admit_ten(
        app, client, upstream, source):
    key = issued_key(app, source, "request_windowed")  # 10 requests per 60 minutes
    barrier = threading.Barrier(CONCURRENT)

    def one(i: int):
        path, body = request(ROUTES[i % len(ROUTES)])
        barrier.wait()
        return client.post(path, json=body, headers={"x-api-key": key["apiKey"]})

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        answers = list(pool.map(one, range(CONCURRENT)))
    statuses = [answer.status_code for answer in answers]
    assert (statuses.count(200), statuses.count(429)) == (WINDOW_REQUESTS,
                                                          CONCURRENT - WINDOW_REQUESTS), statuses
    for i, answer in enumerate(answers):
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) > 0
            if ROUTES[i % len(ROUTES)] == "/v1/messages":  # Anthropic's own error shape
                assert answer.json["type"] == "error"
                assert "WINDOW_REQUEST_LIMIT_EXCEEDED" in answer.json["error"]["message"]

    services = services_of(app)
    settle_all(app)
    assert stored(services, key["id"]) == WINDOW_REQUESTS  # each answer billed once
    assert no_hold_left(services, key["id"])


@pytest.mark.parametrize("source", SOURCES)
def test_fifty_concurrent_requests_over_two_instances_against_a_window_of_ten_admit_ten(
        two_instances, stub_upstream, source):
    apps, bases = two_instances
    add_accounts(apps[0].test_client(), login_headers(apps[0]), stub_upstream)
    key = issued_key(apps[0], source, "request_windowed")
    barrier = threading.Barrier(CONCURRENT)

    def one(i: int) -> int:
        path, body = request(ROUTES[i % len(ROUTES)])
        barrier.wait()
        # Every route on both instances: route by i % 3, instance by (i // 3) % 2.
        return httpx.post(bases[(i // 3) % 2] + path, json=body, timeout=60,
                          headers={"x-api-key": key["apiKey"]}).status_code

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        statuses = list(pool.map(one, range(CONCURRENT)))
    print(f"window of {WINDOW_REQUESTS}: {statuses.count(200)} of {CONCURRENT} admitted")
    assert (statuses.count(200), statuses.count(429)) == (WINDOW_REQUESTS,
                                                          CONCURRENT - WINDOW_REQUESTS), statuses

    settle_all(*apps)
    services = services_of(apps[0])
    assert stored(services, key["id"]) == WINDOW_REQUESTS
    assert no_hold_left(services, key["id"])
    store = services.key_windows.store  # Redis decided, and has each answer charged once
    assert store.redis.client.zcard(store.keys(key["id"])[0]) == WINDOW_REQUESTS


def test_a_request_window_is_rebuilt_from_the_database_after_redis_restarts(
        postgres_url, private_redis, stub_upstream, tmp_path):
    app = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:windows:")
    try:
        client, headers = app.test_client(), login_headers(app)
        add_accounts(client, headers, stub_upstream)
        key = issued_key(app, "api", "request_windowed")  # 10 requests per 60 minutes
        path, body = request("/api/ai/chat-fast")
        answers = [client.post(path, json=body, headers={"x-api-key": key["apiKey"]})
                   for _ in range(WINDOW_REQUESTS)]
        assert [a.status_code for a in answers] == [200] * WINDOW_REQUESTS
        settle_all(app)  # the drain stores each answer, and charges it to the window's log

        private_redis.restart()  # the log and every hold are gone
        cache = services_of(app).cache
        for _ in range(3):  # the pool's old connections fail once, then reconnect
            try:
                cache.client.ping()
                break
            except redis.ConnectionError:
                continue
        cache._down_until = 0.0

        refused = client.post(path, json=body, headers={"x-api-key": key["apiKey"]})
        assert refused.status_code == 429, refused.json
        assert refused.json["error"]["code"] == "WINDOW_REQUEST_LIMIT_EXCEEDED"
        store = services_of(app).key_windows.store
        assert store.redis.client.zcard(store.keys(key["id"])[0]) == WINDOW_REQUESTS
    finally:
        services_of(app).engine.dispose()


def test_a_window_hold_queued_by_either_release_is_read_back():
    hold = WindowHold("key-1", "hold-1", "redis", 300_000)
    assert WindowHold.from_json(hold.to_json()) == hold
    assert WindowHold.from_json({"key_id": "key-1", "id": "hold-1", "store": "redis",
                                 "span": 300_000}) == hold


def test_an_instance_backing_off_from_redis_after_a_slow_call_still_counts_the_window_there(
        pg_app, stub_upstream):
    # Any slow Redis call puts the instance's connection in its back-off while Redis still
    # answers. The uses queued for the drain (and other instances' holds) are counted only in
    # Redis's log: the database alone would admit past them.
    app, client = pg_app, pg_app.test_client()
    add_accounts(client, login_headers(app), stub_upstream)
    key = issued_key(app, "api", "request_windowed")  # 10 requests per 60 minutes
    path, body = request("/api/ai/chat-fast")
    headers = {"x-api-key": key["apiKey"]}
    answers = [client.post(path, json=body, headers=headers) for _ in range(WINDOW_REQUESTS)]
    assert [a.status_code for a in answers] == [200] * WINDOW_REQUESTS
    services = services_of(app)
    assert stored(services, key["id"]) == 0  # queued, not stored yet

    services.cache.redis.failed(TimeoutError("a slow cache read"))
    assert not services.cache.redis.available()
    refused = client.post(path, json=body, headers=headers)
    assert refused.status_code == 429, refused.json
    assert refused.json["error"]["code"] == "WINDOW_REQUEST_LIMIT_EXCEEDED"
    settle_all(app)
    assert stored(services, key["id"]) == WINDOW_REQUESTS
    assert no_hold_left(services, key["id"])

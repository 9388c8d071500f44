"""Every chat route admits against one plan quota: mixed routes over two app instances, each
served over real HTTP, sharing one PostgreSQL database and one Redis, admit exactly the limit,
and every answered request is billed exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from app import services_of
from app.db.models import UsageEvent
from tests.api.chat_support import BODY, MODEL, add_account, set_quota
from tests.support.apps import login_headers
from tests.support.quota import key_counter, stored_count, today

ROUTES = ("/api/ai/chat", "/api/ai/chat-optimized", "/api/ai/chat-fast", "/v1/chat/completions")
REQUESTS, LIMIT = 60, 25


def send(base: str, route: str, api_key: str) -> int:
    if route.startswith("/v1/"):
        url, body = f"{base}{route}", {**BODY, "model": MODEL, "stream": False}
    else:
        url, body = f"{base}{route}?model={MODEL}", {**BODY, "stream": False}
    return httpx.post(url, json=body, headers={"x-api-key": api_key}, timeout=60).status_code


# A key with request slots too: chat-fast and the /v1 routes take them in the quota hold's own
# script call, the other routes one step before it; the slots never refuse here.
SLOTS = {"requestsPerMinute": 1000, "concurrencyLimit": 100}


@pytest.mark.parametrize("limits", [{}, SLOTS], ids=["quota only", "with key slots"])
def test_sixty_concurrent_chats_over_every_route_and_two_instances_admit_exactly_the_limit(
        two_instances, stub_upstream, limits):
    apps, bases = two_instances
    headers, client = login_headers(apps[0]), apps[0].test_client()
    add_account(client, headers, stub_upstream, "acct-mixed")
    stub_upstream.set_behaviour(credential="acct-mixed", delay=0.3)  # requests overlap
    set_quota(client, headers, LIMIT)
    key = client.post("/api/keys", json={"name": "mixed", **limits},
                      headers=headers).json["data"]
    barrier = threading.Barrier(REQUESTS)

    def one(i: int) -> int:
        barrier.wait()
        # Every route on both instances: route by i % 4, instance by (i // 4) % 2.
        return send(bases[(i // 4) % 2], ROUTES[i % 4], key["apiKey"])

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        statuses = list(pool.map(one, range(REQUESTS)))
    admitted = statuses.count(200)
    print(f"mixed routes: {admitted} of {REQUESTS} admitted against a limit of {LIMIT}")
    assert (admitted, statuses.count(429)) == (LIMIT, REQUESTS - LIMIT), statuses

    for application in apps:  # chat-fast's records wait in the stream; settle them
        services_of(application).usage_queue.drain_once("tests")
    services = services_of(apps[0])
    assert stored_count(services, f"key:{key['id']}", "basic", today()) == LIMIT
    with services.uow() as uow:
        events = uow.session.scalar(select(func.count()).select_from(UsageEvent))
    assert events == LIMIT
    quota = services.quota
    counter = key_counter(quota, key, MODEL)
    assert quota.mirror.pending(counter) == 0  # no hold left open
    assert quota.used(counter) == LIMIT
    if limits:  # a refused request keeps no slot; an admitted one its minute's
        redis_ = services.cache.redis
        assert redis_.client.zcard(redis_.keys.slot_bucket(f"rpm:{key['id']}")) == LIMIT
        assert redis_.client.zcard(redis_.keys.slot_bucket(f"concurrency:{key['id']}")) == 0

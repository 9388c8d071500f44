"""chat-fast on PostgreSQL + Redis: no SQL on a warm request, quota holds in Redis that share
the limit with the database's reservations, the account pool cached yet never stale, and the
drain storing usage, hold and account totals once; plus the synchronous route's fallback to
the queue when the database cannot store a delivered answer's usage."""

from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import event

from app import services_of
from app.errors import LimitExceeded
from app.services.quota.rules import Subject
from tests.api.chat_support import BODY, MODEL, add_account, key_usage, set_quota
from tests.support.apps import login_headers, make_app
from tests.support.quota import key_counter


def chat(client, key: dict, route: str = "chat-fast", **body):
    return client.post(f"/api/ai/{route}?model={MODEL}", json={**BODY, "stream": False, **body},
                       headers={"x-api-key": key["apiKey"]})


def drain(application) -> None:
    services_of(application).usage_queue.drain_once("tests")


def held_units(application, subject: str) -> int:
    """The units chat-fast holds in Redis for the subject's basic daily counter."""
    services = services_of(application)
    quota = services.quota
    allowance = quota.allowance_for(Subject(subject, "free"), MODEL)
    return quota.mirror.pending(quota.counter_key(Subject(subject, "free"), allowance))


def test_a_warm_chat_fast_request_runs_no_sql(pg_app, stub_upstream):
    services = services_of(pg_app)
    headers, client = login_headers(pg_app), pg_app.test_client()
    add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "fast"}, headers=headers).json["data"]
    assert chat(client, key).status_code == 200  # fills the caches and the counter's mirror
    statements = []
    event.listen(services.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    for stream in (False, True, False):
        response = chat(client, key, stream=stream)
        response.get_data()
        assert response.status_code == 200
    assert statements == []
    drain(pg_app)
    assert any("usage_events" in statement for statement in statements)  # the listener works
    assert key_usage(client, headers, key["id"])["totalRequests"] == 4
    assert held_units(pg_app, f"key:{key['id']}") == 0


def test_the_drain_stores_usage_hold_and_account_totals_once(pg_app, stub_upstream):
    headers, client = login_headers(pg_app), pg_app.test_client()
    account = add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "fast"}, headers=headers).json["data"]
    for _ in range(3):
        assert chat(client, key).status_code == 200
    check = client.get(f"/api/usage/check?model={MODEL}", headers={"x-api-key": key["apiKey"]})
    assert check.json["data"]["usage"]["used"] == 3  # held, not stored yet
    assert held_units(pg_app, f"key:{key['id']}") == 3
    queue = services_of(pg_app).usage_queue
    entries = queue.client.xrange(queue.stream)
    drain(pg_app)
    for _entry, fields in entries:  # every entry delivered a second time
        queue.client.xadd(queue.stream, fields)
    drain(pg_app)
    assert held_units(pg_app, f"key:{key['id']}") == 0
    check = client.get(f"/api/usage/check?model={MODEL}", headers={"x-api-key": key["apiKey"]})
    assert check.json["data"]["usage"]["used"] == 3
    quota = services_of(pg_app).quota
    stored = quota._stored(key_counter(quota, key, MODEL))
    assert stored.used == 3  # the system of record, not the mirror
    assert key_usage(client, headers, key["id"])["totalRequests"] == 3
    stats = client.get(f"/api/accounts/{account['id']}", headers=headers).json["data"]
    assert stats["usageStats"]["totalRequests"] == 3
    assert stats["lastUsedAt"] is not None


def test_a_stored_chat_optimized_holds_its_unit_and_settles_it_before_its_answer_ends(
        stored_pg_app, stub_upstream):
    pg_app = stored_pg_app  # RELAYGATE_CHAT_OPTIMIZED_USAGE=stored
    services = services_of(pg_app)
    headers, client = login_headers(pg_app), pg_app.test_client()
    add_account(client, headers, stub_upstream, "acct-a")
    set_quota(client, headers, 4)
    key = client.post("/api/keys", json={"name": "optimized"}, headers=headers).json["data"]
    assert chat(client, key, route="chat-optimized").status_code == 200  # fills the caches
    statements: list[str] = []
    event.listen(services.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    seen = {}
    for route in ("chat", "chat-fast", "chat-optimized"):
        statements.clear()
        assert chat(client, key, route=route).status_code == 200
        seen[route] = [s for s in statements if "usage_reservations" in s or "FROM accounts" in s]
    # The limit counts every route's units: chat's row, chat-fast's and chat-optimized's holds.
    refused = chat(client, key, route="chat-optimized")
    assert refused.status_code == 429, refused.json
    assert seen["chat"]  # chat reserved a row and picked its account in the database
    assert seen["chat-optimized"] == []  # chat-optimized did neither: a hold, the cached pool
    # stored before the answer ended, its hold settled: only chat-fast's waits for the drain
    assert held_units(pg_app, f"key:{key['id']}") == 1
    assert key_usage(client, headers, key["id"])["totalRequests"] == 3
    drain(pg_app)
    assert held_units(pg_app, f"key:{key['id']}") == 0
    quota = services.quota
    assert quota._stored(key_counter(quota, key, MODEL)).used == 4
    assert key_usage(client, headers, key["id"])["totalRequests"] == 4


def test_a_hold_is_given_back_when_every_upstream_fails(pg_app, stub_upstream):
    headers, client = login_headers(pg_app), pg_app.test_client()
    add_account(client, headers, stub_upstream, "acct-x")
    stub_upstream.set_behaviour(credential="acct-x", status=500)
    key = client.post("/api/keys", json={"name": "fast"}, headers=headers).json["data"]
    assert chat(client, key).status_code == 502
    assert held_units(pg_app, f"key:{key['id']}") == 0
    check = client.get(f"/api/usage/check?model={MODEL}", headers={"x-api-key": key["apiKey"]})
    assert check.json["data"]["usage"]["used"] == 0
    assert services_of(pg_app).usage_queue.client.xlen(
        services_of(pg_app).usage_queue.stream) == 0


def test_holds_and_database_reservations_share_one_limit(pg_app):
    headers, client = login_headers(pg_app), pg_app.test_client()
    set_quota(client, headers, 3)
    quota = services_of(pg_app).quota
    subject = Subject("key:shared-limit", "free")
    first, second = quota.hold(subject, MODEL), quota.hold(subject, MODEL)
    assert first.held_on is not None and second.held_on is not None
    quota.reserve(subject, MODEL)  # the third unit, in the database
    with pytest.raises(LimitExceeded):
        quota.reserve(subject, MODEL)
    with pytest.raises(LimitExceeded):
        quota.hold(subject, MODEL)
    quota.release(first)
    quota.reserve(subject, MODEL)  # the released unit is free again, for either kind
    with pytest.raises(LimitExceeded):
        quota.hold(subject, MODEL)


def test_an_expired_hold_is_given_back_by_the_next_take_that_would_be_refused(pg_app):
    headers, client = login_headers(pg_app), pg_app.test_client()
    set_quota(client, headers, 1)
    quota = services_of(pg_app).quota
    subject = Subject("key:expiring", "free")
    quota.hold(subject, MODEL)
    with pytest.raises(LimitExceeded):
        quota.hold(subject, MODEL)
    now = quota.clock()
    quota.clock = lambda: now + quota.reservation_ttl + timedelta(seconds=1)
    renewed = quota.hold(subject, MODEL)  # the dead request's unit came back
    assert renewed.held_on is not None
    with pytest.raises(LimitExceeded):
        quota.hold(subject, MODEL)


def test_account_changes_reach_chat_fast_on_another_worker_at_once(
        pg_app, postgres_url, redis_server_url, redis_prefix, tmp_path, stub_upstream):
    other = make_app(tmp_path / "other", postgres_url, redis_server_url, redis_prefix)
    try:
        headers, client = login_headers(pg_app), pg_app.test_client()
        account = add_account(client, headers, stub_upstream, "acct-old")
        key = client.post("/api/keys", json={"name": "fast"}, headers=headers).json["data"]
        assert chat(client, key).status_code == 200
        admin = other.test_client()
        changed = admin.patch(f"/api/accounts/{account['id']}", json={"apiKey": "acct-new"},
                            headers=login_headers(other))
        assert changed.status_code == 200, changed.json
        assert chat(client, key).status_code == 200
        assert [r["credential"] for r in stub_upstream.requests()] == ["acct-old", "acct-new"]
        paused = admin.post(f"/api/accounts/{account['id']}/status", json={"status": "inactive"},
                           headers=login_headers(other))
        assert paused.status_code == 200, paused.json
        refused = chat(client, key)
        assert refused.status_code == 503
        assert refused.json["error"]["code"] == "NO_ACCOUNT_AVAILABLE"
        assert len(stub_upstream.requests()) == 2
    finally:
        services_of(other).engine.dispose()


def test_usage_the_database_cannot_store_is_queued_and_stored_later(
        postgres_url, redis_server_url, redis_prefix, tmp_path, stub_upstream):
    application = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix,
                           db_statement_timeout_ms=300)
    try:
        headers, client = login_headers(application), application.test_client()
        add_account(client, headers, stub_upstream, "acct-a")
        key = client.post("/api/keys", json={"name": "sync"}, headers=headers).json["data"]
        dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn) as blocker:
            # Nothing can record a usage event while this lock is held.
            blocker.execute("LOCK TABLE usage_request_ids IN ACCESS EXCLUSIVE MODE")
            response = chat(client, key, route="chat")
            assert response.status_code == 200, response.json
            assert key_usage(client, headers, key["id"])["totalRequests"] == 0
        drain(application)
        drain(application)
        usage = key_usage(client, headers, key["id"])
        assert usage["totalRequests"] == 1
        assert usage["totalCost"] == response.json["data"]["usage"]["cost"]
        # A stream whose reservation cannot be committed either still ends with its usage.
        services = services_of(application)
        credential = services.auth.credential(authorization=None, x_api_key=key["apiKey"])
        answer = services.chat.run(credential, MODEL, dict(BODY), mode="chat")
        with psycopg.connect(dsn) as blocker:
            blocker.execute("LOCK TABLE usage_request_ids, usage_reservations "
                            "IN ACCESS EXCLUSIVE MODE")
            text = "".join(answer.stream)
            answer.stream.close()
        assert "event: usage" in text and "event: error" not in text
        drain(application)
        assert key_usage(client, headers, key["id"])["totalRequests"] == 2
    finally:
        services_of(application).engine.dispose()


def test_chat_fast_keeps_answering_and_recording_when_redis_dies(
        postgres_url, private_redis, tmp_path, stub_upstream):
    application = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:fast-outage:")
    try:
        headers, client = login_headers(application), application.test_client()
        add_account(client, headers, stub_upstream, "acct-a")
        key = client.post("/api/keys", json={"name": "fast"}, headers=headers).json["data"]
        assert chat(client, key).status_code == 200
        drain(application)
        services = services_of(application)
        credential = services.auth.credential(authorization=None, x_api_key=key["apiKey"])
        held = services.chat.run(credential, MODEL, dict(BODY), mode="fast")  # a hold in Redis
        private_redis.stop()
        "".join(held.stream)  # finishes with Redis gone: the record is stored at once
        held.stream.close()
        for stream in (False, True):  # and new requests take the database path
            response = chat(client, key, stream=stream)
            response.get_data()
            assert response.status_code == 200
        usage = key_usage(client, headers, key["id"])
        assert usage["totalRequests"] == 4
        quota = services.quota
        counter = key_counter(quota, key, MODEL)
        assert quota._stored(counter).used == 4  # every unit reached the system of record
    finally:
        services_of(application).engine.dispose()


def test_the_drain_stores_a_backlog_in_one_transaction_writing_each_touched_row_once(
        pg_app, stub_upstream):
    services = services_of(pg_app)
    headers, client = login_headers(pg_app), pg_app.test_client()
    account = add_account(client, headers, stub_upstream, "acct-a")
    keys = [client.post("/api/keys", json={"name": f"fast-{n}"}, headers=headers).json["data"]
            for n in range(2)]
    for turn in range(24):
        assert chat(client, keys[turn % 2]).status_code == 200
    statements = []
    event.listen(services.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    result = services.usage_queue.drain_once("tests")
    assert (result.recorded, result.left_pending) == (24, 0)
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    # The request ids, the events, the rollups, one row per key, account and quota counter,
    # and the ledger: a fixed number however many records the batch holds.
    assert len(writes) <= 10, writes
    for key in keys:
        assert key_usage(client, headers, key["id"])["totalRequests"] == 12
        check = client.get(f"/api/usage/check?model={MODEL}",
                           headers={"x-api-key": key["apiKey"]})
        assert check.json["data"]["usage"]["used"] == 12
        assert held_units(pg_app, f"key:{key['id']}") == 0
    stats = client.get(f"/api/accounts/{account['id']}", headers=headers).json["data"]
    assert stats["usageStats"]["totalRequests"] == 24

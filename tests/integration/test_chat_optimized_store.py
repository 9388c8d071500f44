"""chat-optimized's usage on PostgreSQL + Redis.

By default (RELAYGATE_CHAT_OPTIMIZED_USAGE=queued) a warm request runs no SQL: its record goes
to chat-fast's queue and the drain stores it once. With `stored`, its synchronous store: the
usage event, the key's and the account's totals and the Redis quota hold's unit in one
statement before the answer ends; stored exactly once however often it is stored, and kept
when Redis is lost between the hold and the store."""

from decimal import Decimal

import pytest
from psycopg import _queries
from sqlalchemy import event
from sqlalchemy.dialects import postgresql

from app import services_of
from app.db.repositories.usage_store import _STORE_HELD, _STORE_RESERVED
from app.services.usage.service import UsageRecord
from app.services.usage.settlement import Settlement
from tests.api.chat_support import BODY, MODEL, add_account, key_usage, set_quota
from tests.support.apps import login_headers, make_app
from tests.support.quota import key_counter


def chat(client, key: dict, route: str = "chat-optimized", **body):
    return client.post(f"/api/ai/{route}?model={MODEL}", json={**BODY, "stream": False, **body},
                       headers={"x-api-key": key["apiKey"]})


def counter_of(services, key: dict):
    return key_counter(services.quota, key, MODEL)


def warm_request(application, stub_upstream):
    """A key's second chat-optimized request, its caches and counter's mirror filled by the
    first: (services, headers, client, account, key, the SQL statements the second ran)."""
    services = services_of(application)
    headers, client = login_headers(application), application.test_client()
    account = add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "optimized"}, headers=headers).json["data"]
    assert chat(client, key).status_code == 200
    statements: list[str] = []
    event.listen(services.engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    response = chat(client, key)
    assert response.status_code == 200, response.json
    return services, headers, client, account, key, statements


def test_a_warm_chat_optimized_request_runs_no_sql_and_its_queued_usage_is_stored_once(
        pg_app, stub_upstream):
    services, headers, client, account, key, statements = warm_request(pg_app, stub_upstream)
    assert statements == []
    counter = counter_of(services, key)
    assert services.quota.mirror.pending(counter) == 2  # both held until their records are stored
    assert services.quota.used(counter) == 2  # and counted by every check meanwhile
    assert services.quota._stored(counter).used == 0
    assert services.usage_queue.drain_once("tests").recorded == 2
    assert any("usage_events" in statement for statement in statements)  # the listener works
    assert services.usage_queue.drain_once("tests").recorded == 0  # each stored once
    assert services.quota.mirror.pending(counter) == 0
    assert services.quota._stored(counter).used == 2
    assert key_usage(client, headers, key["id"])["totalRequests"] == 2
    stats = client.get(f"/api/accounts/{account['id']}", headers=headers).json["data"]
    assert stats["usageStats"]["totalRequests"] == 2


def test_a_warm_stored_chat_optimized_request_stores_usage_totals_and_its_hold_in_one_statement(
        stored_pg_app, stub_upstream):
    services, headers, client, account, key, statements = warm_request(stored_pg_app,
                                                                       stub_upstream)
    assert len(statements) == 1, statements
    assert "usage_events" in statements[0] and "usage_counters" in statements[0]
    counter = counter_of(services, key)
    assert services.quota.mirror.pending(counter) == 0  # the hold left Redis
    assert services.quota.used(counter) == 2
    assert services.quota._stored(counter).used == 2
    usage = key_usage(client, headers, key["id"])
    assert usage["totalRequests"] == 2
    stats = client.get(f"/api/accounts/{account['id']}", headers=headers).json["data"]
    assert stats["usageStats"]["totalRequests"] == 2


def test_a_use_stored_again_with_its_hold_is_neither_billed_nor_counted_twice(
        stored_pg_app, stub_upstream):
    services = services_of(stored_pg_app)
    headers, client = login_headers(stored_pg_app), stored_pg_app.test_client()
    account = add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "optimized"}, headers=headers).json["data"]
    response = chat(client, key)
    assert response.status_code == 200, response.json
    counter = counter_of(services, key)
    request_id = response.json["data"]["usage"]["requestId"]
    record = UsageRecord(api_key_id=key["id"], model=MODEL, input_tokens=5, output_tokens=7,
                         cost=Decimal("0.5"), account_id=account["id"],
                         account_type="openai", request_id=request_id)
    # A retry of the store after its commit (the answer was lost): the hold it names is gone.
    settlement = Settlement(account["id"], 12, Decimal("0.5"), "hold-settled-before", counter)
    assert services.usage_writer.settler.store(record, settlement) is False
    assert services.quota._stored(counter).used == 1
    assert services.quota.mirror.pending(counter) == 0
    assert key_usage(client, headers, key["id"])["totalRequests"] == 1
    stats = client.get(f"/api/accounts/{account['id']}", headers=headers).json["data"]
    assert stats["usageStats"]["totalRequests"] == 1


@pytest.mark.parametrize("usage", ["stored", "queued"])
def test_chat_optimized_keeps_its_books_and_the_limit_when_redis_is_lost_between_hold_and_store(
        postgres_url, private_redis, tmp_path, stub_upstream, usage):
    # Queued, the record cannot reach the lost queue either: it is stored at once.
    application = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:opt-outage:",
                           chat_optimized_usage=usage)
    try:
        services = services_of(application)
        headers, client = login_headers(application), application.test_client()
        add_account(client, headers, stub_upstream, "acct-a")
        set_quota(client, headers, 3)
        key = client.post("/api/keys", json={"name": "optimized"}, headers=headers).json["data"]
        assert chat(client, key).status_code == 200
        services.usage_queue.drain_once("tests")  # queued: the first one stored
        credential = services.auth.credential(authorization=None, x_api_key=key["apiKey"])
        held = services.chat.run(credential, MODEL, dict(BODY), mode="optimized")  # held
        counter = counter_of(services, key)
        assert services.quota.mirror.pending(counter) == 1
        private_redis.stop()  # the hold cannot be settled: Redis lost it
        text = "".join(held.stream)  # stored in the database all the same
        held.stream.close()
        assert "event: usage" in text and "event: error" not in text
        assert services.quota._stored(counter).used == 2
        assert key_usage(client, headers, key["id"])["totalRequests"] == 2
        private_redis.start()  # back empty: the count is read from the database again
        statuses = [chat(client, key, route=route).status_code
                    for route in ("chat-optimized", "chat-fast", "chat")]
        assert statuses == [200, 429, 429]
        services.usage_queue.drain_once("tests")
        assert services.quota._stored(counter).used == 3
        assert key_usage(client, headers, key["id"])["totalRequests"] == 3
    finally:
        services_of(application).engine.dispose()


def test_the_store_statements_stay_short_enough_for_psycopgs_parse_cache():
    # Longer ones are parsed again on every execution (psycopg/_queries.py).
    for statement in (_STORE_HELD, _STORE_RESERVED):
        compiled = statement.sql_for(postgresql.dialect()).encode()
        assert len(compiled) <= _queries.MAX_CACHED_STATEMENT_LENGTH

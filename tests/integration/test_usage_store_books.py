"""The one-statement store's books (usage_store.py: chat's store, and chat-optimized's when it
stores before its answer ends): the event, the key's totals, the rollup rows the server makes
from the event, the account's totals and the counter's value are the ones the rules give,
record by record; a request id stored before writes nothing at all."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from app import services_of
from app.db.repositories.quota import CounterKey
from app.db.repositories.usage_rollups import Totals, rollup_rows
from app.errors import RecordNotFound
from app.services.usage.service import UsageRecord

DAY = datetime(2026, 3, 2, tzinfo=UTC)
COUNTER = CounterKey("key:books", "basic", "day", DAY)


def records(key: str, account: str) -> list[UsageRecord]:
    """Uses over two hours of one day and the next day, two models, with and without an
    account, cache tokens, a total given apart from its parts, a cost of eight decimals."""
    found = []
    for number in range(7):
        found.append(UsageRecord(
            api_key_id=key, model=("m-a", "m-b")[number % 2], input_tokens=10 + number,
            output_tokens=3 * number, cache_write_tokens=number % 3, cache_read_tokens=number,
            total_tokens=1000 + number if number == 5 else None,
            cost=Decimal("0.00012345") * (number + 1),
            account_id=None if number == 3 else account,
            account_type=None if number == 3 else "openai", request_id=f"books-{number}",
            timestamp=DAY + timedelta(minutes=47 * number, seconds=number, microseconds=number)
            + timedelta(days=number // 5), estimated=number == 2))
    return found


def totals_of(item: UsageRecord) -> Totals:
    total = item.total_tokens if item.total_tokens is not None else (
        item.input_tokens + item.output_tokens + item.cache_write_tokens
        + item.cache_read_tokens)
    return Totals(item.request_count, item.input_tokens, item.output_tokens,
                  item.cache_write_tokens, item.cache_read_tokens, total, item.cost)


def books(services) -> dict[str, list[tuple]]:
    queries = {
        "events": "SELECT api_key_id, account_id, account_type, model, input_tokens,"
                  " output_tokens, cache_write_tokens, cache_read_tokens, total_tokens, cost,"
                  " request_count, request_id, occurred_at, source, estimated"
                  " FROM usage_events ORDER BY request_id",
        "claims": "SELECT source, api_key_id, request_id, occurred_at FROM usage_request_ids"
                  " ORDER BY request_id",
        "key": "SELECT id, total_requests, total_input_tokens, total_output_tokens,"
               " total_tokens, total_cost, last_used_at FROM api_keys ORDER BY id",
        "rollups": "SELECT span, grain, bucket, api_key_id, model, account_id, requests,"
                   " input_tokens, output_tokens, cache_write_tokens, cache_read_tokens,"
                   " total_tokens, cost FROM usage_rollups"
                   " ORDER BY span, grain, bucket, api_key_id, model, account_id",
        "accounts": "SELECT id, total_requests, total_tokens, total_cost, recent_failures"
                    " FROM accounts ORDER BY id",
        "counters": "SELECT subject, model_type, period, period_start, used, version"
                    " FROM usage_counters ORDER BY subject",
    }
    with services.uow() as uow:
        return {name: [tuple(row) for row in uow.session.execute(text(query))]
                for name, query in queries.items()}


def test_the_one_statement_store_keeps_the_books_record_by_record(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "books"}).id
    account = services.accounts.create({"name": "books", "provider": "openai",
                                        "api_key": "x"})["id"]
    uses = records(key, account)
    values = []
    for item in uses:
        totals = totals_of(item)
        stored = services.usage.record_at_once(
            item, account_id=account, account_tokens=totals.total_tokens,
            account_cost=totals.cost, counter=COUNTER)
        assert stored is not None and stored.stored and stored.key_found
        values.append(stored.counter)
    assert [(value.used, value.version) for value in values] == [(n, n) for n in range(1, 8)]
    found = books(services)
    summed = [totals_of(item) for item in uses]
    total = sum(summed, Totals())
    assert found["events"] == [
        (key, item.account_id, item.account_type, item.model, sums.input_tokens,
         sums.output_tokens, sums.cache_write_tokens, sums.cache_read_tokens,
         sums.total_tokens, sums.cost, 1, item.request_id, item.timestamp, "relay",
         item.estimated) for item, sums in zip(uses, summed, strict=True)]
    assert found["claims"] == [("relay", key, item.request_id, item.timestamp)
                               for item in uses]
    assert found["key"] == [(key, 7, total.input_tokens, total.output_tokens,
                             total.total_tokens, total.cost, uses[-1].timestamp)]
    # Every rollup row as rollup_rows makes them (a use with no account under "").
    expected = rollup_rows([(item.timestamp, key, item.model, item.account_id or "", sums)
                            for item, sums in zip(uses, summed, strict=True)])
    assert found["rollups"] == sorted(tuple(row.values()) for row in expected)
    assert {row[0] for row in found["rollups"]} == {"hour", "day"}
    assert found["accounts"] == [(account, 7, total.total_tokens, total.cost, 0)]
    assert found["counters"] == [("key:books", "basic", "day", DAY, 7, 7)]


def test_a_use_stored_again_writes_nothing_and_is_reported_as_stored_before(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "books"}).id
    account = services.accounts.create({"name": "books", "provider": "openai",
                                        "api_key": "x"})["id"]
    first, second = records(key, account)[:2]
    for item in (first, second):
        assert services.usage.record_at_once(item, account_id=account, account_tokens=5,
                                             account_cost=Decimal("0.1"),
                                             counter=COUNTER).stored
    before = books(services)
    again = services.usage.record_at_once(first, account_id=account, account_tokens=5,
                                          account_cost=Decimal("0.1"), counter=COUNTER)
    assert again is not None and again.key_found and not again.stored
    assert again.counter is None
    assert books(services) == before


def test_a_use_of_a_key_that_is_gone_claims_nothing(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "books"}).id
    item = records(key, "no-such-account")[0]
    gone = UsageRecord(**{**item.__dict__, "api_key_id": "no-such-key"})
    before = books(services)
    with pytest.raises(RecordNotFound):
        services.usage.record_at_once(gone, counter=COUNTER)
    assert books(services) == before


def test_the_rollup_rows_are_written_in_the_one_order_every_writer_locks_them(pg_app):
    # Writers lock rollup rows in rollup_rows' order (span, grain, bucket, dimensions) so that
    # none waits on another in a cycle; new rows land in the table in the order written.
    services = services_of(pg_app)
    key = services.keys.create({"name": "books"}).id
    item = records(key, "acct")[0]
    assert services.usage.record_at_once(item, counter=COUNTER).stored
    with services.uow() as uow:
        written = [tuple(row) for row in uow.session.execute(text(
            "SELECT span, grain, bucket, api_key_id, model, account_id FROM usage_rollups"
            " ORDER BY ctid"))]
    expected = rollup_rows([(item.timestamp, key, item.model, "acct", totals_of(item))])
    assert written == [tuple(row.values())[:6] for row in expected]

"""A batch of usage stored in one transaction: each record once, and every total its sum."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from redis.connection import Connection
from sqlalchemy import event, text

from app import services_of
from app.cache import codec
from app.cache.counters import counter_key
from app.db.repositories.quota import CounterKey
from app.services.auth import Credential
from app.services.usage.queue import decode
from app.services.usage.service import UsageRecord
from app.services.usage.settlement import Settlement
from tests.support.apps import make_app

DAY = datetime(2026, 3, 2, tzinfo=UTC)
COUNTER = CounterKey("key:batch", "basic", "day", DAY)


def record(key_id: str, number: int, *, account: str | None, model: str = "m-a",
           request_id: str | None = None) -> UsageRecord:
    return UsageRecord(api_key_id=key_id, model=model, input_tokens=10 + number,
                       output_tokens=number, cost=Decimal("0.0001") * (number + 1),
                       account_id=account, account_type="openai" if account else None,
                       request_id=request_id or f"batch-{number}",
                       timestamp=DAY + timedelta(minutes=37 * number))


def settled(item: UsageRecord) -> tuple[UsageRecord, Settlement]:
    return item, Settlement(item.account_id, item.input_tokens + item.output_tokens,
                            item.cost or Decimal(0), None, COUNTER)


def rows(services, statement: str, money_column: int | None = None) -> list[tuple]:
    """The rows of a query; SQLite keeps money as whole 1e-8 USD, read here as USD."""
    with services.uow() as uow:
        found = [list(row) for row in uow.session.execute(text(statement))]
    for row in found:
        if money_column is not None and isinstance(row[money_column], int):
            row[money_column] = Decimal(row[money_column]).scaleb(-8)
    return [tuple(row) for row in found]


def test_a_batch_stores_each_request_id_once_and_every_total_is_the_sum_of_its_events(app):
    services = services_of(app)
    keys = [services.keys.create({"name": f"batch-{n}"}).id for n in range(2)]
    accounts = [services.accounts.create({"name": f"batch-{n}", "provider": "openai",
                                          "api_key": "x"})["id"] for n in range(2)]
    settler = services.usage_writer.settler
    assert settler.store_many([settled(record(keys[0], 0, account=accounts[0]))]) == [True]
    batch = [settled(record(keys[n % 2], n, account=accounts[n % 3] if n % 3 < 2 else None,
                            model=("m-a", "m-b")[n % 2])) for n in range(1, 40)]
    # The record stored before, and one given twice in the batch, are stored once each.
    batch += [settled(record(keys[0], 0, account=accounts[0])), batch[4]]
    stored = settler.store_many(batch)
    assert stored == [True] * 39 + [False, False]

    assert rows(services, "SELECT count(*), count(DISTINCT request_id) FROM usage_events") \
        == [(40, 40)]
    events = rows(services, "SELECT api_key_id, count(*), sum(input_tokens), "
                            "sum(output_tokens), sum(total_tokens), sum(cost), max(occurred_at) "
                            "FROM usage_events GROUP BY api_key_id ORDER BY api_key_id", 5)
    for key_id, count, tokens_in, tokens_out, tokens, cost, last in events:
        key = services.keys.get(key_id)
        assert (key.total_requests, key.total_input_tokens, key.total_output_tokens,
                key.total_tokens, key.total_cost) == (count, tokens_in, tokens_out, tokens,
                                                      cost)
        if isinstance(last, str):  # SQLite's text, UTC
            last = datetime.fromisoformat(last).replace(tzinfo=UTC)
        assert key.last_used_at == last
    by_account = rows(services, "SELECT account_id, count(*), sum(total_tokens), sum(cost) "
                                "FROM usage_events WHERE account_id IS NOT NULL "
                                "GROUP BY account_id", 3)
    assert len(by_account) == 2
    for account_id, count, tokens, cost in by_account:
        assert rows(services, "SELECT total_requests, total_tokens, total_cost FROM accounts "
                              f"WHERE id = '{account_id}'", 2) == [(count, tokens, cost)]
    # Every span and grain of the rollups sums to the events, group by group.
    for span in ("hour", "day"):
        for grain, column in (("k", "api_key_id"), ("m", "model"), ("a", "account_id")):
            found = rows(services, f"SELECT {column}, sum(requests), sum(total_tokens), "
                                   f"sum(cost) FROM usage_rollups WHERE span = '{span}' "
                                   f"AND grain = '{grain}' GROUP BY 1 ORDER BY 1", 3)
            expected = rows(services, f"SELECT coalesce({column}, ''), count(*), "
                                      "sum(total_tokens), sum(cost) FROM usage_events "
                                      "GROUP BY 1 ORDER BY 1", 3)
            assert found == expected, (span, grain)
    with services.uow() as uow:
        assert uow.usage_counters.value(COUNTER).used == 40


def test_a_drain_that_died_between_its_commit_and_its_acknowledgement_counts_nothing_twice(
        postgres_url, redis_server_url, redis_prefix, tmp_path):
    app = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix, usage_claim_idle_ms=0)
    services = services_of(app)
    queue = services.usage_queue
    key_id = services.keys.create({"name": "redelivered"}).id
    for number in range(5):
        queue.enqueue(record(key_id, number, account=None), Settlement(hold_on=COUNTER))
    # A drain takes the entries and commits them, then dies before XACK: they stay pending.
    taken = queue.store.take("dying", min_idle_ms=0, count=10, block_ms=None)
    items = [(decode(fields[b"record"]), Settlement.from_json(codec.loads(fields[b"settle"])))
             for _, fields in taken]
    assert queue.settler.store_many(items) == [True] * 5
    assert queue.pending() == 5

    result = queue.drain_once("heir")
    assert (result.recorded, result.duplicates) == (0, 5) and queue.pending() == 0
    assert services.keys.get(key_id).total_requests == 5
    assert rows(services, "SELECT count(*), sum(requests) FROM usage_rollups "
                          "WHERE span = 'day' AND grain = 'k'") == [(1, 5)]
    with services.uow() as uow:
        assert uow.usage_counters.value(COUNTER).used == 5
    services.engine.dispose()


@pytest.mark.parametrize("flush_scripts", [False, True])
def test_a_batch_settles_every_quota_hold_in_redis_even_after_the_scripts_were_flushed(
        pg_app, flush_scripts):
    services = services_of(pg_app)
    services.plans.set("free", "basic", limit=1000, period="day")
    issued = services.keys.create({"name": "held"})
    principal = services.auth.principal(Credential("api_key", issued.api_key))
    subject = services.quota.subject_for(principal)
    holds = [services.quota.hold(subject, "m-a") for _ in range(4)]
    assert all(hold.held_on == holds[0].held_on is not None for hold in holds)
    counter = counter_key(services.cache.redis, holds[0].held_on)
    assert int(services.cache.client.hget(counter, "p")) == 4
    for number, hold in enumerate(holds):
        services.usage_queue.enqueue(
            record(issued.id, number, account=None, request_id=f"held-{number}"),
            Settlement(tokens=1, hold_id=hold.id, hold_on=hold.held_on))
    if flush_scripts:  # a restarted Redis knows no script: the batch loads it again
        services.cache.client.script_flush()
    assert services.usage_queue.drain_once("worker").recorded == 4
    assert int(services.cache.client.hget(counter, "p")) == 0
    with services.uow() as uow:
        assert uow.usage_counters.value(holds[0].held_on).used == 4


def test_a_batch_makes_its_keys_cost_limits_read_the_new_spend(pg_app):
    services = services_of(pg_app)
    key_id = services.keys.create({"name": "limited"}).id
    periods = {"day": DAY.isoformat(), "week": DAY.isoformat(), "models": None}
    assert services.usage.limit_spend(key_id, periods)["total_cost"] == 0  # now cached
    services.usage_writer.settler.store_many([settled(record(key_id, 1, account=None))])
    assert services.usage.limit_spend(key_id, periods)["total_cost"] == Decimal("0.0002")


def test_a_batch_drops_the_spend_entries_of_all_its_keys_in_one_redis_round_trip(
        pg_app, monkeypatch):
    services = services_of(pg_app)
    usage, today = services.usage, services.usage.today()
    keys = [services.keys.create({"name": f"many-{n}"}).id for n in range(3)]
    periods = {"day": DAY.isoformat(), "week": DAY.isoformat(), "models": None}
    for key_id in keys:  # cached
        assert usage.limit_spend(key_id, periods)["total_cost"] == 0
        assert usage.spend(key_id, today)["total_tokens"] == 0
    sent: list[bytes] = []
    send = Connection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(b"".join(bytes(part) for part in (
            command if isinstance(command, list) else [command])))
        return send(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    batch = [settled(record(keys[n % 3], n, account=None)) for n in range(6)]
    assert services.usage_writer.settler.store_many(batch) == [True] * 6
    monkeypatch.undo()

    sent = [one for one in sent if b"strategy:version" not in one]
    assert len(sent) == 1 and sent[0].count(b"MULTI") == 1 and sent[0].count(b"INCR") == 6
    for number, key_id in enumerate(keys):
        assert usage.limit_spend(key_id, periods)["total_cost"] == sum(
            (Decimal("0.0001") * (n + 1) for n in (number, number + 3)), Decimal(0))
        assert usage.spend(key_id, today)["total_tokens"] > 0


def test_a_drained_batch_of_new_records_is_stored_with_its_ledger_count_in_one_statement(
        pg_app):
    services = services_of(pg_app)
    queue = services.usage_queue
    key_id = services.keys.create({"name": "one-statement"}).id
    account = services.accounts.create({"name": "one-statement", "provider": "openai",
                                        "api_key": "x"})["id"]
    for number in range(6):
        queue.enqueue(record(key_id, number, account=account),
                      Settlement(account, 10, Decimal("0.001"), None, COUNTER))
    queue.ledger.flush()
    confirmed = services.usage_queue.ledger.totals()["confirmed"]
    statements: list[str] = []

    def seen(*args) -> None:
        statements.append(args[2])

    event.listen(services.engine, "before_cursor_execute", seen)
    assert queue.drain_once("worker").recorded == 6
    event.remove(services.engine, "before_cursor_execute", seen)
    writes = [statement for statement in statements if "INSERT" in statement]
    assert len(writes) == 1 and "usage_queue_ledger" in writes[0], statements
    assert queue.ledger.totals()["confirmed"] == confirmed + 6
    assert services.keys.get(key_id).total_requests == 6
    assert rows(services, f"SELECT total_requests, total_tokens, total_cost FROM accounts "
                          f"WHERE id = '{account}'") == [(6, 60, Decimal("0.006"))]
    with services.uow() as uow:
        assert uow.usage_counters.value(COUNTER).used == 6


def test_a_batch_holding_one_record_stored_before_rolls_its_claims_back_and_stores_the_rest(
        pg_app):
    services = services_of(pg_app)
    settler = services.usage_writer.settler
    key_id = services.keys.create({"name": "stored-before"}).id
    assert settler.store_many([settled(record(key_id, 3, account=None))]) == [True]
    batch = [settled(record(key_id, number, account=None)) for number in range(6)]
    assert settler.store_many(batch) == [True] * 3 + [False] + [True] * 2
    assert rows(services, "SELECT count(*), count(DISTINCT request_id) FROM usage_events") \
        == [(6, 6)]
    assert rows(services, "SELECT count(*) FROM usage_request_ids") == [(6,)]
    assert services.keys.get(key_id).total_requests == 6
    assert rows(services, "SELECT sum(requests) FROM usage_rollups "
                          "WHERE span = 'day' AND grain = 'k'") == [(6,)]
    with services.uow() as uow:
        assert uow.usage_counters.value(COUNTER).used == 6

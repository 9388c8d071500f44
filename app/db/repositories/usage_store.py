"""Usage stored in one PostgreSQL statement: one record (the synchronous chat routes' store),
or a drain pass's batch (`store_many`, at the end).

The request id's claim, the key's totals, the event, its rollup rows, the account's totals, the
unit of a quota hold kept in Redis (added to its counter, whose value is returned for the
hold's settlement), and the commit of a quota
reservation are the data-modifying parts of one statement, each gated on the one before
(nothing is written when the request id was claimed before or the key is gone). Run on its own
(autocommit), the statement is its own transaction: the hot rows it writes (the key's and the
account's totals, the rollups that every key adds to, the subject's quota counter) are locked
only while the server runs it, never across a round trip or a wait for this process's other
threads, so requests of one key do not queue on them. Rows are locked in the order of every
other usage writer (usage/service.py, the drain's batches): key, rollups, account, counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.exc import DataError

from app.db.driver import DriverStatement, connection_of
from app.db.models.usage_stats import ROLLUP_GRAINS, SPANS
from app.db.repositories.arrays import arrays
from app.db.repositories.quota import CounterKey, CounterValue
from app.db.repositories.usage_events import EVENT_COLUMNS
from app.db.repositories.usage_rollups import ADD_ON_CONFLICT, ROW_TYPES, add_on_conflict

_EVENT_COLUMNS = (
    "api_key_id, account_id, account_type, model, input_tokens, output_tokens, "
    "cache_write_tokens, cache_read_tokens, total_tokens, cost, request_count, request_id, "
    "occurred_at, recorded_at, source, estimated")
# An event's rollup rows, one per span and grain (span: its UTC hour's or day's, which
# date_trunc names alike), in the order rollup_rows sorts one event's (the order every writer
# locks them), each with whether it keeps the key, the model and the account.
_GRAINS = ",".join(
    f"('{span}','{grain}',"
    + ",".join(str(name in kept).lower() for name in ("api_key_id", "model", "account_id")) + ")"
    for span in SPANS for grain, kept in ROLLUP_GRAINS.items())
_STORED = (
    "WITH claim AS ("
    " INSERT INTO usage_request_ids (source, api_key_id, request_id, occurred_at, recorded_at)"
    " SELECT CAST(:u_source AS varchar), CAST(:u_key AS varchar),"
    " CAST(:u_request AS varchar), CAST(:u_at AS timestamptz), CAST(:u_now AS timestamptz)"
    " WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = CAST(:u_key AS varchar))"
    " ON CONFLICT (source, api_key_id, request_id) DO NOTHING RETURNING 1"
    "), counted AS ("
    " UPDATE api_keys SET total_requests = total_requests + CAST(:u_requests AS bigint),"
    " total_input_tokens = total_input_tokens + CAST(:u_input AS bigint),"
    " total_output_tokens = total_output_tokens + CAST(:u_output AS bigint),"
    " total_tokens = total_tokens + CAST(:u_total AS bigint),"
    " total_cost = total_cost + CAST(:u_cost AS numeric),"
    # GREATEST skips NULL: a key never used takes the event's time.
    " last_used_at = GREATEST(last_used_at, CAST(:u_at AS timestamptz))"
    " WHERE id = CAST(:u_key AS varchar) AND EXISTS (SELECT 1 FROM claim) RETURNING 1"
    "), event AS ("
    f" INSERT INTO usage_events ({_EVENT_COLUMNS})"
    " SELECT CAST(:u_key AS varchar), CAST(:u_account AS varchar),"
    " CAST(:u_account_type AS varchar), CAST(:u_model AS varchar),"
    " CAST(:u_input AS bigint), CAST(:u_output AS bigint), CAST(:u_cache_write AS bigint),"
    " CAST(:u_cache_read AS bigint), CAST(:u_total AS bigint), CAST(:u_cost AS numeric),"
    " CAST(:u_requests AS integer), CAST(:u_request AS varchar),"
    " CAST(:u_at AS timestamptz), CAST(:u_now AS timestamptz), CAST(:u_source AS varchar),"
    " CAST(:u_estimated AS boolean) FROM counted RETURNING *"
    "), rollups AS ("
    # The event's rollup rows (rollup_rows of this one event), made here from the event.
    f" INSERT INTO usage_rollups AS u ({', '.join(name for name, _ in ROW_TYPES)})"
    " SELECT s, g, date_trunc(s, occurred_at, 'UTC'), CASE WHEN k THEN api_key_id ELSE '' END,"
    " CASE WHEN m THEN model ELSE '' END, coalesce(CASE WHEN a THEN account_id END, ''),"
    " request_count, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens,"
    f" total_tokens, cost FROM event, (VALUES {_GRAINS}) AS r(s,g,k,m,a)"
    f" {add_on_conflict('u')} RETURNING 1"
    "), account AS ("
    " UPDATE accounts SET total_requests = total_requests + 1,"
    " total_tokens = total_tokens + CAST(:u_account_tokens AS bigint),"
    " total_cost = total_cost + CAST(:u_account_cost AS numeric), recent_failures = 0,"
    " last_used_at = GREATEST(last_used_at, CAST(:u_now AS timestamptz))"
    " WHERE id = CAST(:u_settle_account AS varchar) AND EXISTS (SELECT 1 FROM counted)"
    " RETURNING 1"
    "), ")
# Each column in turn runs its part to the end: the parts run (and lock) in this order (the
# key's totals first, after the claim they are gated on). A part of one row at most is run to
# its end by reading that row (EXISTS: no aggregate to set up on every run); the rollups' rows
# are counted. The key is looked up again only when its totals were not counted.
_COUNTED = (
    " SELECT EXISTS (SELECT FROM counted)"
    " OR EXISTS (SELECT FROM api_keys WHERE id = CAST(:u_key AS varchar)),"
    " EXISTS (SELECT FROM claim), EXISTS (SELECT FROM counted), EXISTS (SELECT FROM event),"
    " (SELECT count(*) FROM rollups), EXISTS (SELECT FROM account), ")
# Two statements, each kept under psycopg's 4 kB for caching its parsed form: a request
# settles either a database reservation (the chat route) or a Redis hold (the others).
_STORE_RESERVED = DriverStatement(text(
    _STORED + "reservation AS ("
    " UPDATE usage_reservations SET state = 'committed', settled_at = CAST(:u_now AS timestamptz)"
    " WHERE id = CAST(:u_reservation AS varchar) AND subject = CAST(:u_subject AS varchar)"
    " AND state = 'held' AND EXISTS (SELECT 1 FROM counted) RETURNING 1"
    ")" + _COUNTED + "EXISTS (SELECT FROM reservation), NULL, NULL"))
_STORE_HELD = DriverStatement(text(
    # The hold decided the unit: added with no limit check, as the drain adds queued ones.
    _STORED + "counter AS ("
    " INSERT INTO usage_counters (subject, model_type, period, period_start, used, version)"
    " SELECT CAST(:u_subject AS varchar), CAST(:u_model_type AS varchar),"
    " CAST(:u_period AS varchar), CAST(:u_start AS timestamptz), 1, 1"
    " WHERE EXISTS (SELECT 1 FROM counted) ON CONFLICT (subject, model_type, period,"
    " period_start) DO UPDATE SET used = usage_counters.used + 1,"
    " version = usage_counters.version + 1 RETURNING used, version"
    ")" + _COUNTED + "false, (SELECT used FROM counter), (SELECT version FROM counter)"))


@dataclass(frozen=True)
class OneUse:
    """A usage event as stored, and what it settles in the same statement."""

    event: dict  # the usage_events columns (usage/service.py's `_event_row`); its sums are
    # added to its rollup rows as they are to the key's totals
    # The serving account's totals grow by one request, these tokens and this cost.
    account_id: str | None = None
    account_tokens: int = 0
    account_cost: Decimal = Decimal(0)
    # A held quota reservation (its id and subject) committed with the event.
    reservation_id: str | None = None
    subject: str | None = None
    # The counter a Redis quota hold took its unit against: the unit is added to it.
    counter: CounterKey | None = None


@dataclass(frozen=True)
class Stored:
    key_found: bool
    stored: bool  # False: the request id was stored before (nothing written now)
    reservation_committed: bool
    # The counter's value after the unit was added (None: no counter, or nothing stored).
    counter: CounterValue | None = None


class UsageStoreRepository:
    def __init__(self, session):
        self.session = session

    def store(self, use: OneUse, now: datetime) -> Stored | None:
        """Store `use` in one statement (its event must carry a request id); None when the
        database is not PostgreSQL, or `use` settles both a reservation and a hold (nothing
        written)."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        event, counter = use.event, use.counter
        settles: dict[str, object]
        if counter is None:
            statement, settles = _STORE_RESERVED, {"u_reservation": use.reservation_id,
                                                   "u_subject": use.subject}
        elif use.reservation_id is None:
            statement, settles = _STORE_HELD, {
                "u_subject": counter.subject, "u_model_type": counter.model_type,
                "u_period": counter.period, "u_start": counter.period_start}
        else:
            return None
        row = statement.run(connection_of(self.session), {
            "u_source": event["source"], "u_key": event["api_key_id"],
            "u_request": event["request_id"], "u_at": event["occurred_at"], "u_now": now,
            "u_requests": event["request_count"], "u_input": event["input_tokens"],
            "u_output": event["output_tokens"], "u_cache_write": event["cache_write_tokens"],
            "u_cache_read": event["cache_read_tokens"], "u_total": event["total_tokens"],
            "u_cost": event["cost"], "u_account": event["account_id"],
            "u_account_type": event["account_type"], "u_model": event["model"],
            "u_estimated": event["estimated"],
            "u_settle_account": use.account_id,
            "u_account_tokens": use.account_tokens, "u_account_cost": use.account_cost,
            **settles}).rows[0]
        found, claimed, counted, _, _, _, committed, used, version = row
        return Stored(bool(found), bool(claimed and counted), bool(committed),
                      None if used is None else CounterValue(used, version))

    def store_many(self, uses: ManyUses, now: datetime) -> StoredMany | None:
        """Store a batch in one statement, on the condition that every event's request id is
        claimed now (none repeated) and every key exists; otherwise the statement fails and
        writes nothing (`stored` False; in a transaction, the caller must roll it back). None
        when the database is not PostgreSQL (nothing written)."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        counters = sorted(uses.counters, key=_counter_order)
        try:
            row = self._execute_many(uses, counters, now)
        except DataError as error:
            if _NOT_STORED not in str(error.orig):
                raise
            return StoredMany(False, {})
        claimed, counted, events, _, _, committed, values, _, _ = row
        if claimed != len(uses.events) or counted != len(uses.keys) or not events:
            return StoredMany(False, {})  # cannot be: the statement fails then
        return StoredMany(True, {counters[at - 1]: CounterValue(used, version)
                                 for at, used, version in values or []},
                          frozenset(committed or ()))

    def _execute_many(self, uses: ManyUses, counters: list[CounterKey], now: datetime):
        return self.session.execute(_STORE_MANY, {
            "claims": len(uses.events), "keys": len(uses.keys), "now": now,
            "l_instance": uses.ledger, "l_confirmed": uses.confirmed,
            **_part("e", uses.events, _EVENT_TYPES), **_part("k", uses.keys, _KEY_TYPES),
            **_part("r", uses.rollups, ROW_TYPES),
            **_part("a", uses.accounts, _ACCOUNT_TYPES),
            **_part("v", [{"id": reservation_id, "subject": subject}
                          for reservation_id, subject in sorted(uses.reservations)],
                    _RESERVATION_TYPES),
            **_part("c", [{"subject": key.subject, "model_type": key.model_type,
                           "period": key.period, "period_start": key.period_start,
                           "used": uses.counters[key]} for key in counters],
                    _COUNTER_TYPES)}).one()


def _counter_order(key: CounterKey) -> tuple:
    # One lock order for every writer of counters (quota.py's add_many sorts the same way).
    return (key.subject, key.model_type, key.period, key.period_start)


# A drain pass's batch in one statement (store_many). Every array parameter is prefixed by its
# part, so the parts' same-named columns stay apart.
_EVENT_TYPES = EVENT_COLUMNS
_KEY_TYPES = [("id", "varchar"), ("requests", "bigint"), ("input_tokens", "bigint"),
              ("output_tokens", "bigint"), ("total_tokens", "bigint"), ("cost", "numeric"),
              ("used_at", "timestamptz")]
_ACCOUNT_TYPES = [("id", "varchar"), ("requests", "bigint"), ("tokens", "bigint"),
                  ("cost", "numeric")]
_RESERVATION_TYPES = [("id", "varchar"), ("subject", "varchar")]
_COUNTER_TYPES = [("subject", "varchar"), ("model_type", "varchar"), ("period", "varchar"),
                  ("period_start", "timestamptz"), ("used", "bigint")]


def _rows(prefix: str, columns: list[tuple[str, str]]) -> str:
    """`unnest(...) AS prefix(names)` of the part's array parameters (named prefix_column)."""
    given = ",".join(f"CAST(:{prefix}_{name} AS {kind}[])" for name, kind in columns)
    return f"unnest({given}) AS {prefix}({','.join(name for name, _ in columns)})"


def _names(columns: list[tuple[str, str]]) -> str:
    return ",".join(name for name, _ in columns)


# Each part is gated on the one before: nothing but the claims is written unless every request
# id was claimed now and every key exists, and then the statement fails (PostgreSQL has no
# RAISE outside PL/pgSQL: a cast that cannot succeed ends it), which undoes its claims, so it
# can run on its own (autocommit) and the caller stores the batch the careful way. The outer
# SELECT's counts run the parts, and lock their rows, in the order every usage writer keeps:
# key, rollups, account, then the held database reservations the batch commits (before their
# subject's counter, as a reservation's expiry locks them), counter; then the ledger's row.
_NOT_STORED = "usage batch not stored at once"
_STORE_MANY = text(
    f"WITH e AS (SELECT * FROM {_rows('e', _EVENT_TYPES)}), claim AS ("
    " INSERT INTO usage_request_ids (source,api_key_id,request_id,occurred_at,recorded_at)"
    " SELECT source,api_key_id,request_id,occurred_at,recorded_at FROM e"
    " ON CONFLICT (source,api_key_id,request_id) DO NOTHING RETURNING 1"
    "), keys AS ("
    " SELECT id FROM api_keys WHERE id = ANY(CAST(:k_id AS varchar[]))"
    " AND (SELECT count(*) FROM claim) = :claims ORDER BY id FOR UPDATE"
    "), counted AS ("
    " UPDATE api_keys AS t SET total_requests = t.total_requests + k.requests,"
    " total_input_tokens = t.total_input_tokens + k.input_tokens,"
    " total_output_tokens = t.total_output_tokens + k.output_tokens,"
    " total_tokens = t.total_tokens + k.total_tokens, total_cost = t.total_cost + k.cost,"
    " last_used_at = GREATEST(t.last_used_at, k.used_at)"
    f" FROM {_rows('k', _KEY_TYPES)} WHERE t.id = k.id"
    " AND (SELECT count(*) FROM keys) = :keys RETURNING 1"
    "), event AS ("
    f" INSERT INTO usage_events ({_names(_EVENT_TYPES)}) SELECT * FROM e"
    " WHERE (SELECT count(*) FROM counted) = :keys RETURNING 1"
    "), rollups AS ("
    f" INSERT INTO usage_rollups ({_names(ROW_TYPES)}) SELECT * FROM {_rows('r', ROW_TYPES)}"
    f" WHERE EXISTS (SELECT 1 FROM event) {ADD_ON_CONFLICT} RETURNING 1"
    "), accounts AS ("
    " SELECT id FROM accounts WHERE id = ANY(CAST(:a_id AS varchar[]))"
    " AND EXISTS (SELECT 1 FROM event) ORDER BY id FOR UPDATE"
    "), account AS ("
    " UPDATE accounts AS t SET total_requests = t.total_requests + a.requests,"
    " total_tokens = t.total_tokens + a.tokens, total_cost = t.total_cost + a.cost,"
    " recent_failures = 0, last_used_at = GREATEST(t.last_used_at, CAST(:now AS timestamptz))"
    f" FROM {_rows('a', _ACCOUNT_TYPES)} WHERE t.id = a.id"
    " AND (SELECT count(*) FROM accounts) > 0 RETURNING 1"
    "), reserved AS ("
    " UPDATE usage_reservations AS t SET state = 'committed', settled_at = CAST(:now AS"
    f" timestamptz) FROM {_rows('v', _RESERVATION_TYPES)} WHERE t.id = v.id"
    " AND t.subject = v.subject AND t.state = 'held' AND EXISTS (SELECT 1 FROM event)"
    " RETURNING t.id"
    "), counter AS ("
    f" INSERT INTO usage_counters ({_names(_COUNTER_TYPES)},version)"
    f" SELECT *, 1 FROM {_rows('c', _COUNTER_TYPES)} WHERE EXISTS (SELECT 1 FROM event)"
    " ON CONFLICT (subject,model_type,period,period_start) DO UPDATE SET"
    " used = usage_counters.used + excluded.used, version = usage_counters.version + 1"
    " RETURNING subject,model_type,period,period_start,used,version"
    "), ledger AS ("
    " INSERT INTO usage_queue_ledger (instance,queued,confirmed,lost,updated_at)"
    " SELECT CAST(:l_instance AS varchar), 0, CAST(:l_confirmed AS bigint), 0,"
    " CAST(:now AS timestamptz) WHERE CAST(:l_instance AS varchar) IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM event) ON CONFLICT (instance) DO UPDATE SET"
    " confirmed = usage_queue_ledger.confirmed + excluded.confirmed,"
    " updated_at = excluded.updated_at RETURNING 1"
    ") SELECT (SELECT count(*) FROM claim), (SELECT count(*) FROM counted),"
    " (SELECT count(*) FROM event), (SELECT count(*) FROM rollups),"
    " (SELECT count(*) FROM account), (SELECT array_agg(id) FROM reserved),"
    # Each counter's value after, by its place in the batch's counters.
    " (SELECT array_agg(ARRAY[c.at, n.used, n.version] ORDER BY c.at) FROM counter AS n"
    f" JOIN unnest(CAST(:c_subject AS varchar[]),CAST(:c_model_type AS varchar[]),"
    " CAST(:c_period AS varchar[]),CAST(:c_period_start AS timestamptz[])) WITH ORDINALITY"
    " AS c(subject,model_type,period,period_start,at) USING (subject,model_type,period,"
    "period_start)), (SELECT count(*) FROM ledger),"
    " CASE WHEN (SELECT count(*) FROM claim) = :claims AND (SELECT count(*) FROM counted) ="
    f" :keys THEN 0 ELSE CAST('{_NOT_STORED}: ' || (SELECT count(*) FROM claim) AS integer) END")


@dataclass(frozen=True)
class ManyUses:
    """A batch of usage events, all to be stored now, and what they settle, summed."""

    events: list[dict]  # usage_events columns, each with its own request id
    keys: list[dict]  # per key: id, requests, input/output/total tokens, cost, used_at
    rollups: list[dict]  # usage_rollups.rollup_rows of the events
    accounts: list[dict] = field(default_factory=list)  # id, requests, tokens, cost
    counters: dict[CounterKey, int] = field(default_factory=dict)  # units added to each
    # The usage queue ledger's row (its instance) that counts `confirmed` more when stored.
    ledger: str | None = None
    confirmed: int = 0
    # Held quota reservations (id, subject) committed with the events: those still held.
    reservations: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StoredMany:
    stored: bool  # False: a request id was stored before, or a key is gone: nothing written
    counters: dict[CounterKey, CounterValue]
    # The ids of `reservations` committed with the events (the others were no longer held).
    committed: frozenset[str] = frozenset()


def _part(prefix: str, rows: list[dict], columns: list[tuple[str, str]]) -> dict[str, str]:
    return {f"{prefix}_{name}": value for name, value in arrays(rows, columns).items()}

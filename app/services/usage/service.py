"""UsageService: the UsageStatsInterface. Records usage exactly once, reports from rollups.

Recording writes, in one transaction: the request id (idempotency), the key's running totals,
the raw event, and the event's sums into its hour's and day's rollups. Reports read only the
rollups (whole UTC days from the daily ones where buckets allow, hours elsewhere), so
they never scan raw events and stay answerable after the cleanup has removed those.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Unpack
from zoneinfo import ZoneInfo

from app import timebuckets
from app.cache import invalidate_together, read_through
from app.db.models import UsageEvent
from app.db.repositories.quota import CounterKey
from app.db.repositories.usage_baselines import merge_rows
from app.db.repositories.usage_rollups import RollupRow, Totals, rollup_rows
from app.db.repositories.usage_store import ManyUses, OneUse, Stored, StoredMany
from app.db.types import MONEY_PLACES
from app.db.uow import in_shared_transaction
from app.errors import DatabaseError, DuplicateRecord, InvalidInput, RecordNotFound
from app.services.base import Service, ServiceDeps
from app.services.catalogue.pricing import Pricing
from app.services.keys.periods import model_matches
from app.services.retry import db_retry
from app.services.usage import answers as usage_report
from app.services.usage.query import (
    CostQuery,
    Plan,
    StatsQuery,
    plan_cost,
    plan_stats,
    segments,
)
from app.services.usage.retention import DEFAULT_RETENTION_DAYS, UsageRetention

log = logging.getLogger(__name__)

MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)


@dataclass(frozen=True)
class UsageRecord:
    api_key_id: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    # None: computed from the model's prices (cost) or as the sum of every token kind (total).
    cost: Decimal | None = None
    total_tokens: int | None = None
    request_count: int = 1
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    account_id: str | None = None
    account_type: str | None = None
    request_id: str | None = None
    timestamp: datetime | None = None
    extra: dict = field(default_factory=dict)
    source: str = "relay"  # relay | client | admin: who reported the use
    estimated: bool = False  # tokens estimated by the gateway (the provider reported none)


class UsageService(Service):
    def __init__(self, *, timezone: str = "UTC", pricing: Pricing | None = None,
                 retention_days: int = DEFAULT_RETENTION_DAYS, cleanup_batch: int = 10_000,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.zone = ZoneInfo(timezone)
        self.pricing = pricing
        self.retention = UsageRetention(uow=self.uow, clock=self.clock,
                                        retry_policy=self.retry_policy,
                                        retention_days=retention_days,
                                        cleanup_batch=cleanup_batch)

    def today(self) -> date:
        """The day (in the quota time zone) that daily limits count."""
        return self.clock().astimezone(self.zone).date()

    # version 2: the entries hold snake_case names (total_tokens, cost_today, ...).
    @read_through("keyspend", key=lambda key_id, day: f"{key_id}:{day.isoformat()}", version=2)
    @db_retry
    def spend(self, key_id: str, day: date) -> dict:
        """A key's all-time tokens and its cost on `day`, for its limits."""
        since = datetime.combine(day, time(0), tzinfo=self.zone)
        with self.uow() as uow:
            tokens = uow.api_keys.total_tokens(key_id)
            cost = uow.usage_events.cost_since(key_id, since)
            cost += uow.usage_baselines.cost_since(key_id, since)
        return {"total_tokens": tokens, "cost_today": cost}

    @read_through("keylimitspend", key=lambda key_id, periods=None: key_id, version=2)
    @db_retry
    def limit_spend(self, key_id: str, periods: dict) -> dict:
        """What a key's cost limits count: all-time tokens and cost, cost since `periods["day"]`,
        and since `periods["week"]` on models matching the glob `periods["models"]` (None: all).
        Cached per key (one entry, invalidated by every record); the answer carries `periods`,
        and a caller asking other periods gets them read again (keys/limits.py)."""
        day, week = (datetime.fromisoformat(periods[name]) for name in ("day", "week"))
        pattern = periods.get("models")
        with self.uow() as uow:
            tokens, total = uow.api_keys.spent(key_id)
            today = uow.usage_events.cost_since(key_id, day)
            today += uow.usage_baselines.cost_since(key_id, day)
            by_model = [uow.usage_events.cost_by_model_since(key_id, week),
                        uow.usage_baselines.cost_by_model_since(key_id, week)]
        weekly = sum((cost for costs in by_model for model, cost in costs.items()
                      if model_matches(model, pattern)), Decimal(0))
        return {"periods": periods, "total_tokens": tokens, "total_cost": total,
                "cost_today": today, "cost_week": weekly}

    @db_retry
    def record(self, record: UsageRecord, also=None) -> bool:
        """Store one usage event and add it to the key's totals; False if already recorded.

        `also(uow)`, if given, runs in the same transaction when the event is new (settlement.py).
        The request id is claimed under the record's source and key: the relay's records are
        deduplicated only against the relay's own (a queue redelivery), never against what a
        caller reports (usage/reported.py).
        """
        now = self.clock()
        occurred_at = _occurred([record], now)[0]
        totals = self._totals(record)
        self.retention.ensure_partition(occurred_at, now)
        with self.uow() as uow:
            if record.request_id and not uow.usage_events.claim_request_id(
                    record.request_id, source=record.source, api_key_id=record.api_key_id,
                    occurred_at=occurred_at, recorded_at=now):
                return False
            found = uow.api_keys.add_usage(
                record.api_key_id, requests=totals.requests, input_tokens=totals.input_tokens,
                output_tokens=totals.output_tokens, cost=totals.cost, used_at=occurred_at,
                total_tokens=totals.total_tokens,
            )
            if not found:
                raise RecordNotFound("API key")
            uow.usage_events.add(UsageEvent(
                api_key_id=record.api_key_id, account_id=record.account_id,
                account_type=record.account_type, model=record.model,
                input_tokens=totals.input_tokens, output_tokens=totals.output_tokens,
                cache_write_tokens=totals.cache_write_tokens,
                cache_read_tokens=totals.cache_read_tokens, total_tokens=totals.total_tokens,
                cost=totals.cost, request_count=totals.requests,
                request_id=record.request_id, occurred_at=occurred_at, recorded_at=now,
                source=record.source, estimated=record.estimated,
            ))
            uow.usage_rollups.add(occurred_at=occurred_at, api_key_id=record.api_key_id,
                                  model=record.model, account_id=record.account_id or "",
                                  totals=totals)
            if also is not None:
                also(uow)
            try:
                uow.commit()
            except DatabaseError as error:
                if record.request_id and error.code == DuplicateRecord.code:
                    return False  # a concurrent retry of the same request won the insert
                raise
        self._spent(record.api_key_id)
        return True

    @db_retry
    def record_at_once(self, record: UsageRecord, *, account_id: str | None = None,
                       account_tokens: int = 0, account_cost: Decimal = Decimal(0),
                       reservation: tuple[str, str] | None = None,
                       counter: CounterKey | None = None) -> Stored | None:
        """`record` and its settlement in one statement that is its own transaction
        (db/repositories/usage_store.py): the event, the key's totals and rollups, the
        account's totals (`account_id`'s, by one request, these tokens and cost), and either
        the commit of a held reservation (its id and subject) or the unit of a Redis quota
        hold added to its `counter` (whose value the answer carries). The same books as
        `record`, with no row of the many that requests share locked longer than the
        statement runs.

        None where one statement cannot store it (no request id, not on PostgreSQL, both a
        reservation and a counter): then `record` must. Raises RecordNotFound when the key
        does not exist (nothing written)."""
        if record.request_id is None:
            return None
        now = self.clock()
        occurred_at = _occurred([record], now)[0]
        totals = self._totals(record)
        use = OneUse(_event_row(record, totals, occurred_at, now), account_id, account_tokens,
                     account_cost,
                     reservation_id=reservation[0] if reservation is not None else None,
                     subject=reservation[1] if reservation is not None else None,
                     counter=counter)
        self.retention.ensure_partition(occurred_at, now)
        with self.uow.at_once() as uow:
            stored = uow.usage_store.store(use, now)
            uow.commit()  # nothing left to send in autocommit
        if stored is None:
            return None
        if not stored.key_found:
            raise RecordNotFound("API key")
        if stored.stored:
            self._spent(record.api_key_id)
        return stored

    @db_retry
    def record_many(self, records: list[UsageRecord], also=None) -> list[bool]:
        """`record` for many records in one transaction; for each, whether it was stored
        (False: its request id was recorded before, or earlier in `records`).

        The books are the same as record by record; the rows are written once each: the
        request ids claimed in one insert, the events in one, every touched key's totals and
        rollup row once with the sums. `also(uow, stored)` runs in the transaction with the
        indexes of the records stored. A key that does not exist fails the whole batch
        (NotFound), so the caller can find the culprit record by record.
        """
        now = self.clock()
        occurred = _occurred(records, now)
        for at in {timebuckets.month_start(at): at for at in occurred}.values():
            self.retention.ensure_partition(at, now)
        claims: dict[tuple, int] = {}  # (source, key, request id) -> its first record
        for index, record in enumerate(records):
            if record.request_id:
                claims.setdefault((record.source, record.api_key_id, record.request_id), index)
        with self.uow() as uow:
            claimed = uow.usage_events.claim_request_ids([
                {"source": claim[0], "api_key_id": claim[1], "request_id": claim[2],
                 "occurred_at": occurred[index], "recorded_at": now}
                for claim, index in claims.items()])
            stored = [not record.request_id or (
                claims[(record.source, record.api_key_id, record.request_id)] == index
                and (record.source, record.api_key_id, record.request_id) in claimed)
                for index, record in enumerate(records)]
            fresh = [index for index, new in enumerate(stored) if new]
            if not fresh:
                return stored
            totals = {index: self._totals(records[index]) for index in fresh}
            by_key, grown = _grown(records, totals, occurred, fresh)
            if len(uow.api_keys.add_usage_many(grown)) < len(grown):
                raise RecordNotFound("API key")
            uow.usage_events.add_many([_event_row(records[index], totals[index],
                                                  occurred[index], now) for index in fresh])
            uow.usage_rollups.add_many([
                (occurred[index], records[index].api_key_id, records[index].model,
                 records[index].account_id or "", totals[index]) for index in fresh])
            if also is not None:
                also(uow, fresh)
            uow.commit()
        self._spent(*by_key)
        return stored

    @db_retry
    def record_many_at_once(self, records: list[UsageRecord], *, accounts: list[dict],
                            counters: dict[CounterKey, int], ledger: str | None = None,
                            reservations: list[tuple[str, str]] | None = None,
                            ) -> StoredMany | None:
        """`record_many` of records that are all new, with their settlement, in one statement
        (db/repositories/usage_store.py's store_many): the request ids, the events, the keys'
        totals and rollups, the `accounts`' totals (id, requests, tokens, cost each), the units
        added to `counters`, the database `reservations` (id, subject) committed, those still
        held, and the usage queue `ledger` instance's count of confirmed records. Answers the
        counters' values after and the reservations committed; None when one statement cannot
        store them (not PostgreSQL, a request id missing, repeated, or stored before, a key
        gone): then nothing is written and record_many decides."""
        # A batch inside a shared transaction: the statement's failure would end that too.
        if not records or in_shared_transaction() or any(
                record.request_id is None for record in records) or len(
                {(r.source, r.api_key_id, r.request_id) for r in records}) < len(records):
            return None
        now = self.clock()
        occurred = _occurred(records, now)
        for at in {timebuckets.month_start(at): at for at in occurred}.values():
            self.retention.ensure_partition(at, now)
        totals = {index: self._totals(record) for index, record in enumerate(records)}
        by_key, grown = _grown(records, totals, occurred, list(totals))
        uses = ManyUses(
            events=[_event_row(record, totals[index], occurred[index], now)
                    for index, record in enumerate(records)],
            keys=grown,
            rollups=rollup_rows([(occurred[index], record.api_key_id, record.model,
                                  record.account_id or "", totals[index])
                                 for index, record in enumerate(records)]),
            accounts=accounts, counters=counters, ledger=ledger, confirmed=len(records),
            reservations=reservations or [])
        # One statement on its own (autocommit): no BEGIN's and COMMIT's round trips, and the
        # rows that requests share (keys', accounts', rollups', counters') locked only while
        # the server runs it.
        with self.uow.at_once() as uow:
            stored = uow.usage_store.store_many(uses, now)
            if stored is None or not stored.stored:
                return None  # nothing written (or, not in autocommit, rolled back on leaving)
            uow.commit()
        self._spent(*by_key)
        return stored

    def _spent(self, *key_ids: str) -> None:
        """Keys' limits read spend through the cache: the next check must see these keys' use.
        Called after the commit; every key's two entries go in one round trip, which inside
        `riding_along()` rides with the request's other writes (ChatService.finish)."""
        today = self.today()
        service = type(self)
        invalidate_together(self.cache, [
            entry for key_id in key_ids
            for entry in ((service.spend, (key_id, today)), (service.limit_spend, (key_id,)))])

    def priced(self, record: UsageRecord) -> UsageRecord:
        """The record with its cost filled in from the catalogue when the caller gave none."""
        if record.cost is not None:
            return record
        tokens = {"input_tokens": record.input_tokens, "output_tokens": record.output_tokens,
                  "cache_write_tokens": record.cache_write_tokens,
                  "cache_read_tokens": record.cache_read_tokens}
        return replace(record, cost=self._cost(record, tokens))

    def _totals(self, record: UsageRecord) -> Totals:
        tokens = {"input_tokens": record.input_tokens, "output_tokens": record.output_tokens,
                  "cache_write_tokens": record.cache_write_tokens,
                  "cache_read_tokens": record.cache_read_tokens}
        total = record.total_tokens if record.total_tokens is not None else sum(tokens.values())
        return Totals(requests=record.request_count, total_tokens=total,
                      cost=self._cost(record, tokens), **tokens)

    def _cost(self, record: UsageRecord, tokens: dict) -> Decimal:
        if record.cost is not None:
            return Decimal(record.cost).quantize(MONEY_QUANTUM)
        prices = self.pricing(record.model) if self.pricing else None
        if prices is None:
            # Recording must not fail the request it follows: keep the tokens, flag the gap.
            log.warning("no price for model %r; usage recorded with cost 0", record.model)
            return Decimal(0)
        return prices.cost(**tokens)

    @db_retry
    def stats(self, query: StatsQuery) -> dict:
        """getUsageStats: sums per bucket (and per group), with every empty bucket as zeros."""
        plan, group = plan_stats(query)
        with self.uow() as uow:
            rows = self._sums(uow, plan, plan.start, plan.end, unit=plan.unit, group=group)
        return usage_report.stats(plan, rows, group)

    @db_retry
    def ranking(self, query: StatsQuery, top: int = 10) -> list[dict]:
        """The `top` groups of `query.group_by` over the whole range, by cost then requests,
        each with its totals (`name` is the model, key id or account id)."""
        plan, group = plan_stats(query)
        if group is None:
            # details name the query's own member (wire text, see app/errors.py).
            raise InvalidInput("groupBy is required.", details={"groupBy": ["Required."]})
        with self.uow() as uow:
            rows = self._sums(uow, plan, plan.start, plan.end, unit=None, group=group)
        rows.sort(key=lambda row: (-row.totals.cost, -row.totals.requests, row.group))
        return [{"name": usage_report.group_label(group, row.group),
                 **usage_report.totals_dict(row.totals)} for row in rows[:top]]

    @db_retry
    def cost_analysis(self, query: CostQuery) -> dict:
        """getCostAnalysis: costBreakdown by day, model or account; daily trends; topModels."""
        plan, previous = plan_cost(query)
        with self.uow() as uow:
            days = self._sums(uow, plan, plan.start, plan.end, unit="day", group=None)
            models = self._sums(uow, plan, plan.start, plan.end, unit=None, group="model")
            before = self._sums(uow, plan, previous, plan.buckets[0], unit=None, group=None)
            accounts = []
            if query.group_by == "account":
                accounts = self._sums(uow, plan, plan.start, plan.end, unit=None,
                                      group="account_id")
        return usage_report.cost_analysis(
            plan, group_by=query.group_by, top=query.top, days=days, models=models,
            previous_cost=before[0].totals.cost, accounts=accounts,
        )

    @staticmethod
    def _sums(uow, plan: Plan, start: datetime, end: datetime, *, unit: str | None,
              group: str | None) -> list[RollupRow]:
        """Rollup sums over [start, end): whole UTC days from daily rows where they fit; with
        the imported baselines (usage brought from another gateway) added in."""
        days = plan.daily_buckets or unit is None
        pieces = segments(start, end, days=days)
        recorded = uow.usage_rollups.sum_by(
            pieces=pieces, grain=plan.grain(group), unit=unit,
            tz_name=plan.tz_name, filters=plan.filters, group=group,
        )
        imported = uow.usage_baselines.sum_by(pieces=pieces, unit=unit, tz_name=plan.tz_name,
                                              filters=plan.filters, group=group)
        return merge_rows(recorded, imported) if imported else recorded

    def cleanup(self, retention_days: int | None = None) -> dict:
        """cleanupOldStats: delete raw events older than the retention (default: the
        configured one); rollups are kept."""
        return self.retention.cleanup(retention_days)

    def prepare_partitions(self, first: datetime, last: datetime) -> None:
        self.retention.prepare_partitions(first, last)

    def rebuild_rollups(self, start: datetime, end: datetime) -> int:
        return self.retention.rebuild_rollups(start, end)


def _occurred(records: list[UsageRecord], now: datetime) -> list[datetime]:
    """When each record's use happened, in UTC (now when it names no time); a time without
    a UTC offset is refused."""
    if any(r.timestamp is not None and r.timestamp.tzinfo is None for r in records):
        raise InvalidInput("timestamp must carry a UTC offset.",
                           details={"timestamp": ["Must carry a UTC offset."]})
    return [(r.timestamp or now).astimezone(UTC) for r in records]


def _grown(records: list[UsageRecord], totals: dict[int, Totals], occurred: list[datetime],
           indexes: list[int]) -> tuple[dict[str, list[int]], list[dict]]:
    """The records at `indexes` by key, and each key's totals grown by them (the rows of
    api_keys.add_usage_many)."""
    by_key: dict[str, list[int]] = {}
    for index in indexes:
        by_key.setdefault(records[index].api_key_id, []).append(index)
    grown = []
    for key_id, found in by_key.items():
        summed = sum((totals[index] for index in found), Totals())
        grown.append({"id": key_id, "requests": summed.requests,
                      "input_tokens": summed.input_tokens, "output_tokens": summed.output_tokens,
                      "total_tokens": summed.total_tokens, "cost": summed.cost,
                      "used_at": max(occurred[index] for index in found)})
    return by_key, grown


def _event_row(record: UsageRecord, totals: Totals, occurred_at: datetime,
               recorded_at: datetime) -> dict:
    """A usage event's column values, as `record` stores it."""
    return {"api_key_id": record.api_key_id, "account_id": record.account_id,
            "account_type": record.account_type, "model": record.model,
            "input_tokens": totals.input_tokens, "output_tokens": totals.output_tokens,
            "cache_write_tokens": totals.cache_write_tokens,
            "cache_read_tokens": totals.cache_read_tokens, "total_tokens": totals.total_tokens,
            "cost": totals.cost, "request_count": totals.requests,
            "request_id": record.request_id, "occurred_at": occurred_at,
            "recorded_at": recorded_at, "source": record.source, "estimated": record.estimated}

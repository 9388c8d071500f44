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
from zoneinfo import ZoneInfo

from app.cache import read_through
from app.db.models import UsageEvent
from app.db.repositories.usage_baselines import merge_rows
from app.db.repositories.usage_rollups import RollupRow, Totals
from app.db.types import MONEY_PLACES
from app.errors import DatabaseError, DuplicateRecord, InvalidInput, RecordNotFound
from app.services.base import Service
from app.services.catalogue.pricing import Pricing
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
                 **kwargs):
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

    @read_through("keyspend", key=lambda key_id, day: f"{key_id}:{day.isoformat()}")
    @db_retry
    def spend(self, key_id: str, day: date) -> dict:
        """A key's all-time tokens and its cost on `day`, for its limits."""
        since = datetime.combine(day, time(0), tzinfo=self.zone)
        with self.uow() as uow:
            tokens = uow.api_keys.total_tokens(key_id)
            cost = uow.usage_events.cost_since(key_id, since)
            cost += uow.usage_baselines.cost_since(key_id, since)
        return {"totalTokens": tokens, "costToday": cost}

    @db_retry
    def record(self, record: UsageRecord, also=None) -> bool:
        """Store one usage event and add it to the key's totals; False if already recorded.

        `also(uow)`, if given, runs in the same transaction when the event is new (settlement.py).
        The request id is claimed under the record's source and key: the relay's records are
        deduplicated only against the relay's own (a queue redelivery), never against what a
        caller reports (usage/reported.py).
        """
        now = self.clock()
        if record.timestamp is not None and record.timestamp.tzinfo is None:
            raise InvalidInput("timestamp must carry a UTC offset.",
                               details={"timestamp": ["Must carry a UTC offset."]})
        occurred_at = (record.timestamp or now).astimezone(UTC)
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
        # Keys' limits read spend through the cache: the next check must see this use.
        self.spend.invalidate(self.cache, record.api_key_id, self.today())
        return True

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

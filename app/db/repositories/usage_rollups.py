"""Hourly usage rollups: one upsert per recorded event, and sums over them for reports."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Integer, delete, func, insert, literal, select, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from app.db.functions import local_bucket
from app.db.models import UsageEvent, UsageHourlyRollup
from app.db.models.usage_stats import ROLLUP_GRAINS, SUM_COLUMNS
from app.db.types import Money

R = UsageHourlyRollup
DIMENSIONS = ("api_key_id", "model", "account_id")


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal(0)

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class RollupRow:
    """One answer row: the bucket (None when not grouped by time), the group value, the sums."""

    bucket: datetime | None
    group: str | None
    totals: Totals


def _sums(table) -> list:
    sums = [type_coerce(func.coalesce(func.sum(getattr(table, name)), 0), Integer)
            for name in SUM_COLUMNS[:-1]]
    return [*sums, type_coerce(func.coalesce(func.sum(table.cost), 0), Money())]


class UsageRollupRepository:
    def __init__(self, session):
        self.session = session

    def _insert(self):
        name = self.session.get_bind().dialect.name
        return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[name]

    def add(self, *, bucket: datetime, api_key_id: str, model: str, account_id: str,
            totals: Totals) -> None:
        """Add one event's sums to its hour at every grain, in one statement.

        Rows are always locked in the order of ROLLUP_GRAINS, one per grain, so concurrent
        recorders cannot deadlock on them.
        """
        dims = {"api_key_id": api_key_id, "model": model, "account_id": account_id}
        sums = {name: getattr(totals, name) for name in SUM_COLUMNS}
        rows = [{"grain": grain, "bucket": bucket, **sums,
                 **{d: dims[d] if d in kept else "" for d in DIMENSIONS}}
                for grain, kept in ROLLUP_GRAINS.items()]
        statement = self._insert()(R).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["grain", "bucket", *DIMENSIONS],
            set_={name: getattr(R, name) + statement.excluded[name] for name in SUM_COLUMNS},
        )
        self.session.execute(statement)

    def sum_by(self, *, grain: str, start: datetime, end: datetime, unit: str | None,
               tz_name: str, filters: dict[str, str], group: str | None) -> list[RollupRow]:
        """Sums over [start, end) of one grain, by local bucket (unless unit is None) and group."""
        keys = []
        if unit is not None:
            keys.append(local_bucket(R.bucket, unit, tz_name))
        if group is not None:
            keys.append(getattr(R, group))
        conditions = [R.grain == grain, R.bucket >= start, R.bucket < end]
        conditions += [getattr(R, name) == value for name, value in filters.items()]
        query = select(*keys, *_sums(R)).where(*conditions)
        if keys:
            query = query.group_by(*keys)
        result = []
        for row in self.session.execute(query):
            bucket = row[0] if unit is not None else None
            value = row[len(keys) - 1] if group is not None else None
            numbers = row[len(keys):]
            totals = Totals(*(int(n) for n in numbers[:-1]), numbers[-1])
            result.append(RollupRow(bucket, value, totals))
        return result

    def rebuild(self, start: datetime, end: datetime) -> int:
        """Recompute every grain for the whole UTC hours in [start, end) from the raw events.

        Only for hours whose raw events are all still kept; returns the full-grain rows written.
        """
        span = [R.bucket >= start, R.bucket < end]
        if self.session.get_bind().dialect.name == "postgresql":
            # A bulk load aggregates millions of rows: let the hash aggregate stay in memory.
            self.session.execute(text("SET LOCAL work_mem = '256MB'"))
        self.session.execute(delete(R).where(*span))
        hour = local_bucket(UsageEvent.occurred_at, "hour", "UTC")
        account = func.coalesce(UsageEvent.account_id, "")
        events = UsageEvent.__table__.c
        sources = [func.coalesce(func.sum(events[name]), 0) for name in SUM_COLUMNS[:-1]]
        full = (
            select(literal("kma"), hour, UsageEvent.api_key_id, UsageEvent.model, account,
                   *sources, func.sum(events.cost))
            .where(UsageEvent.occurred_at >= start, UsageEvent.occurred_at < end)
            .group_by(hour, UsageEvent.api_key_id, UsageEvent.model, account)
        )
        columns = ["grain", "bucket", *DIMENSIONS, *SUM_COLUMNS]
        written = self.session.execute(insert(R).from_select(columns, full)).rowcount
        for grain, kept in ROLLUP_GRAINS.items():
            if grain == "kma":
                continue
            dims = [getattr(R, d) if d in kept else literal("") for d in DIMENSIONS]
            kept_columns = [getattr(R, d) for d in kept]
            coarse = (
                select(literal(grain), R.bucket, *dims, *(func.sum(getattr(R, name))
                                                          for name in SUM_COLUMNS))
                .where(R.grain == "kma", *span)
                .group_by(R.bucket, *kept_columns)
            )
            self.session.execute(insert(R).from_select(columns, coarse))
        return written

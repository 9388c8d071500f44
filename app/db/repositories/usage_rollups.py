"""Usage rollups: one upsert per recorded event, and sums over them for reports."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Integer, delete, func, insert, literal, select, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from app import timebuckets
from app.db.functions import local_bucket
from app.db.models import UsageEvent, UsageRollup
from app.db.models.usage_stats import ROLLUP_GRAINS, SPANS, SUM_COLUMNS
from app.db.types import Money

R = UsageRollup
DIMENSIONS = ("api_key_id", "model", "account_id")
_COLUMNS = ["span", "grain", "bucket", *DIMENSIONS, *SUM_COLUMNS]


@dataclass(frozen=True)
class Totals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal("0E-8")

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

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def add(self, *, occurred_at: datetime, api_key_id: str, model: str, account_id: str,
            totals: Totals) -> None:
        """Add one event's sums to its hour and its day at every grain, in one statement.

        Rows are always locked in the same order (span, then grain), one per (span, grain),
        so concurrent recorders cannot deadlock on them.
        """
        dims = {"api_key_id": api_key_id, "model": model, "account_id": account_id}
        sums = {name: getattr(totals, name) for name in SUM_COLUMNS}
        starts = {"hour": timebuckets.utc_hour(occurred_at),
                  "day": timebuckets.utc_hour(occurred_at).replace(hour=0)}
        rows = [{"span": span, "grain": grain, "bucket": starts[span], **sums,
                 **{d: dims[d] if d in kept else "" for d in DIMENSIONS}}
                for span in SPANS for grain, kept in ROLLUP_GRAINS.items()]
        insert_for = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[self._dialect]
        statement = insert_for(R).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["span", "grain", "bucket", *DIMENSIONS],
            set_={name: getattr(R, name) + statement.excluded[name] for name in SUM_COLUMNS},
        )
        self.session.execute(statement)

    def sum_by(self, *, span: str, grain: str, start: datetime, end: datetime,
               unit: str | None, tz_name: str, filters: dict[str, str],
               group: str | None) -> list[RollupRow]:
        """Sums over [start, end) of one span and grain, by local bucket and by group.

        `unit` None: not split by time; `group` None: not split by a dimension.
        """
        keys = []
        if unit is not None:
            keys.append(local_bucket(R.bucket, unit, tz_name))
        if group is not None:
            keys.append(getattr(R, group))
        conditions = [R.span == span, R.grain == grain, R.bucket >= start, R.bucket < end]
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

    def rebuild(self, start: datetime, end: datetime) -> None:
        """Recompute every rollup of the whole UTC days in [start, end) from the raw events.

        Only for days whose raw events are all still kept.
        """
        if self._dialect == "postgresql":
            # A bulk load aggregates many rows: let the hash aggregate stay in memory.
            self.session.execute(text("SET LOCAL work_mem = '64MB'"))
        self.session.execute(delete(R).where(R.bucket >= start, R.bucket < end))
        hour = local_bucket(UsageEvent.occurred_at, "hour", "UTC")
        account = func.coalesce(UsageEvent.account_id, "")
        events = UsageEvent.__table__.c
        sources = [func.sum(events["request_count" if name == "requests" else name])
                   for name in SUM_COLUMNS]
        self.session.execute(insert(R).from_select(_COLUMNS, (
            select(literal("hour"), literal("kma"), hour, UsageEvent.api_key_id,
                   UsageEvent.model, account, *sources)
            .where(UsageEvent.occurred_at >= start, UsageEvent.occurred_at < end)
            .group_by(hour, UsageEvent.api_key_id, UsageEvent.model, account)
        )))
        day = local_bucket(R.bucket, "day", "UTC")
        for span, grain, kept in [*(("hour", g, k) for g, k in ROLLUP_GRAINS.items()
                                    if g != "kma"),
                                  *(("day", g, k) for g, k in ROLLUP_GRAINS.items())]:
            bucket = R.bucket if span == "hour" else day
            dims = [getattr(R, d) if d in kept else literal("") for d in DIMENSIONS]
            self.session.execute(insert(R).from_select(_COLUMNS, (
                select(literal(span), literal(grain), bucket, *dims,
                       *(func.sum(getattr(R, name)) for name in SUM_COLUMNS))
                .where(R.span == "hour", R.grain == "kma", R.bucket >= start, R.bucket < end)
                .group_by(bucket, *(getattr(R, d) for d in kept))
            )))

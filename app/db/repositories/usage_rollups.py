"""Usage rollups: one upsert per recorded event, and sums over them for reports."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
)

from app import timebuckets
from app.db.functions import local_bucket
from app.db.models import UsageEvent, UsageRollup
from app.db.models.usage_stats import ROLLUP_GRAINS, SPANS, SUM_COLUMNS
from app.db.repositories.arrays import arrays, insert_rows
from app.db.repositories.upsert import insert_for
from app.db.types import Money

R = UsageRollup
DIMENSIONS = ("api_key_id", "model", "account_id")
_COLUMNS = ["span", "grain", "bucket", *DIMENSIONS, *SUM_COLUMNS]
ROW_TYPES = [("span", "varchar"), ("grain", "varchar"), ("bucket", "timestamptz"),
             *((name, "varchar") for name in DIMENSIONS),
             *((name, "numeric" if name == "cost" else "bigint") for name in SUM_COLUMNS)]
_ROW_TYPES = ROW_TYPES


def add_on_conflict(target: str = "usage_rollups") -> str:
    """What an insert of rollup rows ends with: a row already there is added to. `target` is
    the insert's name for usage_rollups (an alias keeps a long statement short)."""
    return (f"ON CONFLICT (span, grain, bucket, {', '.join(DIMENSIONS)}) DO UPDATE SET "
            + ", ".join(f"{name} = {target}.{name} + excluded.{name}" for name in SUM_COLUMNS))


ADD_ON_CONFLICT = add_on_conflict()
_ADD_ROWS = insert_rows("usage_rollups", _ROW_TYPES, ADD_ON_CONFLICT)


class Totals(NamedTuple):
    """Sums of usage; a tuple because reports add up thousands of them."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    total_tokens: int = 0
    cost: Decimal = Decimal("0E-8")

    def __add__(self, other: Totals) -> Totals:  # type: ignore[override]
        return Totals(self[0] + other[0], self[1] + other[1], self[2] + other[2],
                      self[3] + other[3], self[4] + other[4], self[5] + other[5],
                      self[6] + other[6])


class RollupRow(NamedTuple):
    """One answer row: the bucket (None when not grouped by time), the group value, the sums."""

    bucket: datetime | None
    group: str | None
    totals: Totals


def _sums(table) -> list:
    # Cast back to bigint: PostgreSQL sums bigints as numeric, which would arrive as Decimal.
    sums = [cast(func.coalesce(func.sum(getattr(table, name)), 0), BigInteger)
            for name in SUM_COLUMNS[:-1]]
    return [*sums, type_coerce(func.coalesce(func.sum(table.cost), 0), Money())]


def rollup_rows(events: list[tuple[datetime, str, str, str, Totals]]) -> list[dict]:
    """The rollup rows events add to ((occurred at, api key id, model, account id, totals)
    each), summed, in the one order every writer locks them: span, grain, bucket, dimensions."""
    # Events of one hour and dimensions first (a batch holds many such), then their rows.
    hourly: dict[tuple, Totals] = {}
    for occurred_at, api_key_id, model, account_id, totals in events:
        found = (timebuckets.utc_hour(occurred_at), api_key_id, model, account_id)
        hourly[found] = hourly[found] + totals if found in hourly else totals
    summed: dict[tuple, Totals] = {}
    for (hour, api_key_id, model, account_id), totals in hourly.items():
        dims = {"api_key_id": api_key_id, "model": model, "account_id": account_id}
        starts = {"hour": hour, "day": hour.replace(hour=0)}
        for span_order, span in enumerate(SPANS):
            for grain_order, kept in enumerate(ROLLUP_GRAINS.values()):
                row = (span_order, grain_order, starts[span],
                       *(dims[d] if d in kept else "" for d in DIMENSIONS))
                summed[row] = summed.get(row, Totals()) + totals
    return [{"span": SPANS[row[0]], "grain": list(ROLLUP_GRAINS)[row[1]], "bucket": row[2],
             **dict(zip(DIMENSIONS, row[3:], strict=True)),
             **{name: getattr(totals, name) for name in SUM_COLUMNS}}
            for row, totals in sorted(summed.items(), key=lambda item: item[0])]


class UsageRollupRepository:
    def __init__(self, session):
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def add(self, *, occurred_at: datetime, api_key_id: str, model: str, account_id: str,
            totals: Totals) -> None:
        """Add one event's sums to its hour and its day at every grain, in one statement."""
        self.add_many([(occurred_at, api_key_id, model, account_id, totals)])

    def add_many(self, events: list[tuple[datetime, str, str, str, Totals]]) -> None:
        """Add events' sums ((occurred at, api key id, model, account id, totals) each) to their
        hours and days at every grain, summed in memory first: one upsert, each row once.

        Rows are always locked in the same order (span, then grain, then bucket and
        dimensions), so concurrent recorders, one event or many, cannot deadlock on them.
        """
        rows = rollup_rows(events)
        if not rows:
            return
        if self._dialect == "postgresql":
            self.session.execute(_ADD_ROWS, arrays(rows, _ROW_TYPES))
            return
        statement = insert_for(self.session, R)
        statement = statement.on_conflict_do_update(
            index_elements=["span", "grain", "bucket", *DIMENSIONS],
            set_={name: getattr(R, name) + statement.excluded[name] for name in SUM_COLUMNS},
        )
        # RETURNING makes it one multi-row statement from a cached one ("insertmanyvalues").
        self.session.execute(statement.returning(R.span), rows)

    def sum_by(self, *, pieces: list[tuple[str, datetime, datetime]], grain: str,
               unit: str | None, tz_name: str, filters: dict[str, str],
               group: str | None) -> list[RollupRow]:
        """Sums of one grain over time `pieces` ((span, start, end): hourly or daily rows),
        by local bucket of `unit` (None: not split by time) and by `group` (None: not split).
        """
        keys = []
        if unit is not None:
            keys.append(local_bucket(R.bucket, unit, tz_name))
        if group is not None:
            keys.append(getattr(R, group))
        spans = or_(*(and_(R.span == span, R.bucket >= start, R.bucket < end)
                      for span, start, end in pieces))
        conditions = [R.grain == grain, spans]
        conditions += [getattr(R, name) == value for name, value in filters.items()]
        query = select(*keys, *_sums(R)).where(*conditions)
        if keys:
            query = query.group_by(*keys)
        width = len(keys)
        return [RollupRow(row[0] if unit is not None else None,
                          row[width - 1] if group is not None else None,
                          Totals(*row[width:]))
                for row in self.session.execute(query)]

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

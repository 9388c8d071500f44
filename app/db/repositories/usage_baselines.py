"""Imported usage baselines: replaced per source and key, summed like the rollups."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, and_, cast, delete, func, insert, or_, select, type_coerce

from app.db.functions import local_bucket
from app.db.models.usage_baseline import UsageBaseline
from app.db.models.usage_stats import SUM_COLUMNS
from app.db.repositories.usage_rollups import RollupRow, Totals
from app.db.types import Money

B = UsageBaseline


def _sums() -> list:
    # As the rollups' sums: bigints back as ints, cost as exact Money.
    sums = [cast(func.coalesce(func.sum(getattr(B, name)), 0), BigInteger)
            for name in SUM_COLUMNS[:-1]]
    return [*sums, type_coerce(func.coalesce(func.sum(B.cost), 0), Money())]


def merge_rows(*answers: list[RollupRow]) -> list[RollupRow]:
    """Rows of several answers with the same bucket and group added into one."""
    merged: dict = {}
    for rows in answers:
        for row in rows:
            key = (row.bucket, row.group)
            merged[key] = row._replace(totals=merged[key].totals + row.totals) \
                if key in merged else row
    return list(merged.values())


class UsageBaselineRepository:
    def __init__(self, session):
        self.session = session

    def replace_for_key(self, source: str, api_key_id: str, rows: Iterable[dict]) -> None:
        """The key's rows of `source` become `rows` (dicts of model, bucket and the sums)."""
        self.session.execute(delete(B).where(B.source == source, B.api_key_id == api_key_id))
        values = [{"source": source, "api_key_id": api_key_id, **row} for row in rows]
        if values:
            self.session.execute(insert(B), values)

    def totals_for_key(self, source: str, api_key_id: str) -> Totals:
        found = self.session.execute(
            select(*_sums()).where(B.source == source, B.api_key_id == api_key_id)).one()
        return Totals(*found)

    def span_for_key(self, source: str, api_key_id: str) -> tuple[datetime | None, ...]:
        """(first, last) bucket of the key's rows of `source`."""
        return tuple(self.session.execute(
            select(func.min(B.bucket), func.max(B.bucket))
            .where(B.source == source, B.api_key_id == api_key_id)).one())

    def cost_since(self, api_key_id: str, since: datetime) -> Decimal:
        total = self.session.scalar(select(func.sum(B.cost)).where(
            B.api_key_id == api_key_id, B.bucket >= since))
        return total if total is not None else Decimal(0)

    def cost_by_model_since(self, api_key_id: str, since: datetime) -> dict[str, Decimal]:
        rows = self.session.execute(select(B.model, func.sum(B.cost)).where(
            B.api_key_id == api_key_id, B.bucket >= since).group_by(B.model))
        return {model: cost for model, cost in rows if cost is not None}

    def sum_by(self, *, pieces: list[tuple[str, datetime, datetime]], unit: str | None,
               tz_name: str, filters: dict[str, str], group: str | None) -> list[RollupRow]:
        """What UsageRollupRepository.sum_by answers, over the baselines (hourly rows, no
        account: they count as the account ''); rows that sum to nothing are left out."""
        if filters.get("account_id"):
            return []
        columns = {"api_key_id": B.api_key_id, "model": B.model}
        keys: list[Any] = [local_bucket(B.bucket, unit, tz_name)] if unit is not None else []
        if group in columns:
            keys.append(columns[group])
        spans = or_(*(and_(B.bucket >= start, B.bucket < end) for _, start, end in pieces))
        conditions = [spans, *(columns[name] == value for name, value in filters.items()
                               if name in columns)]
        query = select(*keys, *_sums()).where(*conditions)
        if keys:
            query = query.group_by(*keys)
        width = len(keys)
        label = (lambda row: row[width - 1]) if group in columns else (lambda row: "")
        rows = [RollupRow(row[0] if unit is not None else None,
                          label(row) if group is not None else None, Totals(*row[width:]))
                for row in self.session.execute(query)]
        return [row for row in rows if any(row.totals)]

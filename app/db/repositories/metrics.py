"""Metric buckets and query figures in the database (used when no Redis is configured)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.models import MetricBucket, QueryStat


class QueryTotals(Protocol):
    """One normalised query's figures since the last flush (the collector's QueryFigures)."""

    query: str
    calls: int
    total_ms: float
    max_ms: float
    last: float  # epoch seconds

class MetricsRepository:
    def __init__(self, session):
        self.session = session

    def _insert(self, model):
        dialect = self.session.get_bind().dialect.name
        return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)

    def add_to_buckets(self, rows: list[tuple[int, int, str, float]]) -> None:
        """Add each value to its bucket in one upsert, so concurrent workers never lose one."""
        if not rows:
            return
        insert = self._insert(MetricBucket)
        statement = insert.on_conflict_do_update(
            index_elements=["resolution", "bucket_start", "name"],
            set_={"value": MetricBucket.value + insert.excluded.value})
        self.session.execute(statement, [
            {"resolution": r, "bucket_start": s, "name": n, "value": v} for r, s, n, v in rows])

    def buckets(self, resolution: int, since: int) -> list[tuple[int, dict[str, float]]]:
        rows = self.session.execute(
            select(MetricBucket.bucket_start, MetricBucket.name, MetricBucket.value)
            .where(MetricBucket.resolution == resolution, MetricBucket.bucket_start >= since))
        found: dict[int, dict[str, float]] = defaultdict(dict)
        for start, name, value in rows:
            found[start][name] = value
        return sorted(found.items())

    def purge_buckets(self, resolution: int, before: float) -> None:
        self.session.execute(delete(MetricBucket).where(MetricBucket.resolution == resolution,
                                                        MetricBucket.bucket_start < before))

    def _greatest(self, a, b):
        dialect = self.session.get_bind().dialect.name
        return func.max(a, b) if dialect == "sqlite" else func.greatest(a, b)

    def add_query_figures(self, queries: Mapping[str, QueryTotals]) -> None:
        if not queries:
            return
        insert = self._insert(QueryStat)
        statement = insert.on_conflict_do_update(
            index_elements=["fingerprint"],
            set_={"call_count": QueryStat.call_count + insert.excluded.call_count,
                  "total_ms": QueryStat.total_ms + insert.excluded.total_ms,
                  "max_ms": self._greatest(QueryStat.max_ms, insert.excluded.max_ms),
                  "last_executed": self._greatest(QueryStat.last_executed,
                                                  insert.excluded.last_executed)})
        self.session.execute(statement, [
            {"fingerprint": fp, "query": f.query, "call_count": f.calls, "total_ms": f.total_ms,
             "max_ms": f.max_ms, "last_executed": datetime.fromtimestamp(f.last, UTC)}
            for fp, f in queries.items()])

    def query_stats(self) -> list[QueryStat]:
        return list(self.session.scalars(select(QueryStat)))

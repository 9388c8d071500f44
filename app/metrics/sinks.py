"""Where flushed figures are summed across workers: Redis time buckets, or the database.

Each sum goes into one bucket per resolution; a time range is read at the resolution that
gives it about 30-170 buckets. Buckets expire after twice their range.
"""

from __future__ import annotations

from app.cache import CacheStore
from app.db.uow import UnitOfWorkFactory
from app.metrics.collector import QueryFigures, Snapshot

RANGES = {"5m": 300, "1h": 3600, "24h": 86400, "7d": 7 * 86400}
RESOLUTIONS = {"5m": 10, "1h": 60, "24h": 900, "7d": 3600}
# Sampled counters (not sums): each bucket keeps the first and the last value seen.
GAUGES = ("redis.evicted_keys.first", "redis.evicted_keys.last")


def bucket_start(at: float, resolution: int) -> int:
    return int(at // resolution * resolution)


class RedisSink:
    def __init__(self, cache: CacheStore):
        self.cache = cache
        self.client = cache.client
        self._scripts = cache.redis.scripts
        # One hash slot for the script that updates them together (Redis Cluster).
        self._query_keys = [cache.keys.query_stats(part)
                            for part in ("calls", "total", "max", "last")]
        self._text_key = cache.keys.query_stats("text")

    def ready(self) -> bool:
        """False while Redis is in its back-off after a failure: try again later."""
        return self.cache.available()

    def failed(self, error: Exception) -> None:
        self.cache.failed(error)

    def _bucket_key(self, resolution: int, start: int) -> str:
        return self.cache.keys.metrics_bucket(resolution, start)

    def write(self, snapshot: Snapshot, gauges: dict[str, float], at: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        for time_range, resolution in RESOLUTIONS.items():
            key = self._bucket_key(resolution, bucket_start(at, resolution))
            for name, value in snapshot.sums.items():
                pipe.hincrbyfloat(key, name, value)
            for name, value in gauges.items():
                pipe.hsetnx(key, f"{name}.first", value)
                pipe.hset(key, f"{name}.last", value)
            pipe.expire(key, RANGES[time_range] * 2)
        if snapshot.queries:
            args = []
            for fp, figures in snapshot.queries.items():
                args += [fp, figures.calls, figures.total_ms, figures.max_ms, figures.last]
            pipe.hset(self._text_key, mapping={fp: f.query for fp, f in snapshot.queries.items()})
            pipe.expire(self._text_key, 7 * 86400)
            if not self.cache.clustered:
                self._scripts.run("metrics_add_query", self._query_keys, args, client=pipe)
        pipe.execute()
        if snapshot.queries and self.cache.clustered:
            # A cluster pipeline refuses scripts: one call of its own, its keys in one slot.
            self._scripts.run("metrics_add_query", self._query_keys, args)

    def read(self, time_range: str, now: float) -> list[tuple[int, dict[str, float]]]:
        resolution = RESOLUTIONS[time_range]
        first = bucket_start(now - RANGES[time_range], resolution) + resolution
        starts = list(range(first, bucket_start(now, resolution) + 1, resolution))
        pipe = self.client.pipeline(transaction=False)
        for start in starts:
            pipe.hgetall(self._bucket_key(resolution, start))
        return [(start, {k.decode(): float(v) for k, v in values.items()})
                for start, values in zip(starts, pipe.execute(), strict=True) if values]

    def query_stats(self) -> list[QueryFigures]:
        pipe = self.client.pipeline(transaction=False)
        for key in [self._text_key, *self._query_keys]:
            pipe.hgetall(key)
        texts, calls, totals, maxes, lasts = pipe.execute()
        return [QueryFigures(query=text.decode(), calls=int(calls.get(fp, 0)),
                             total_ms=float(totals.get(fp, 0)), max_ms=float(maxes.get(fp, 0)),
                             last=float(lasts.get(fp, 0)))
                for fp, text in texts.items() if fp in calls]


class DatabaseSink:
    """The same figures in the metric_buckets and query_stats tables, for runs without Redis."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def ready(self) -> bool:
        return True

    def failed(self, error: Exception) -> None:
        """Nothing to do: the unit of work has already rolled back."""

    def write(self, snapshot: Snapshot, gauges: dict[str, float], at: float) -> None:
        rows = [(resolution, bucket_start(at, resolution), name, value)
                for resolution in RESOLUTIONS.values() for name, value in snapshot.sums.items()]
        with self.uow.separate() as uow:
            uow.metrics.add_to_buckets(rows)
            uow.metrics.add_query_figures(snapshot.queries)
            for time_range, resolution in RESOLUTIONS.items():
                uow.metrics.purge_buckets(resolution, before=at - 2 * RANGES[time_range])
            uow.commit()

    def read(self, time_range: str, now: float) -> list[tuple[int, dict[str, float]]]:
        resolution = RESOLUTIONS[time_range]
        first = bucket_start(now - RANGES[time_range], resolution) + resolution
        with self.uow.separate() as uow:
            return uow.metrics.buckets(resolution, first)

    def query_stats(self) -> list[QueryFigures]:
        with self.uow.separate() as uow:
            return [QueryFigures(query=row.query, calls=row.call_count, total_ms=row.total_ms,
                                 max_ms=row.max_ms, last=row.last_executed.timestamp())
                    for row in uow.metrics.query_stats()]

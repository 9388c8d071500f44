"""MonitoringService: getPerformanceMetrics and getQueryStats, summed across workers."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.cache import CacheError, CacheStore
from app.cache.probe import RedisServer
from app.errors import DatabaseError, MetricsUnavailable
from app.metrics import prom
from app.metrics.collector import Collector
from app.metrics.sinks import GAUGES, RANGES
from app.services.usage.queue import UsageQueue

if TYPE_CHECKING:
    from app.metrics.sinks import DatabaseSink, RedisSink

log = logging.getLogger(__name__)


def _ratio(part: float, whole: float, places: int = 6) -> float | None:
    return round(part / whole, places) if whole else None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class MonitoringService:
    def __init__(self, *, collector: Collector, sink: RedisSink | DatabaseSink,
                 cache: CacheStore | None,
                 pool_status: Callable[[], dict], flush_interval: float, slow_query_ms: float,
                 usage_queue: UsageQueue | None = None, drain_beat_within: float = 15.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.collector = collector
        self.sink = sink
        self.cache = cache
        self.server = RedisServer(cache)
        self.pool_status = pool_status
        self.flush_interval = flush_interval
        self.slow_query_ms = slow_query_ms
        self.usage_queue = usage_queue
        self.drain_beat_within = drain_beat_within
        self.clock = clock
        self._next_flush = 0.0
        self._flush_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._seen_hits = self._seen_misses = 0

    def request_finished(self, method: str, route: str, status: int, seconds: float,
                         error_code: str | None) -> None:
        prom.http_request(method, route, str(status), seconds)
        self.collector.add("http.requests")
        if status >= 400:
            self.collector.add("http.errors")
            self.collector.add(f"error.{error_code or f'HTTP_{status}'}")
        if status >= 500:
            self.collector.add("http.server_errors")
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if self.clock() >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Add this process's figures to the shared store; on failure keep them for next time."""
        if not self._flush_lock.acquire(blocking=False):
            return
        try:
            self._export_process_figures()
            now = self.clock()
            self._next_flush = now + self.flush_interval
            if not self.sink.ready():
                return  # the figures wait in the collector
            snapshot = self.collector.take()
            gauges = self._gauges()
            if not snapshot and not gauges:
                return
            try:
                with self.collector.suppressed():
                    self.sink.write(snapshot, gauges, now)
            except (CacheError, DatabaseError) as error:
                self.collector.put_back(snapshot)
                self.sink.failed(error)
                log.warning("metrics not flushed, kept for the next try: %s", error)
        finally:
            self._flush_lock.release()

    def performance_metrics(self, time_range: str = "1h") -> dict:
        """getPerformanceMetrics over the last `time_range` (5m, 1h, 24h or 7d)."""
        self.flush()
        now = self.clock()
        try:
            buckets = self.sink.read(time_range, now)
        except (CacheError, DatabaseError) as error:
            raise MetricsUnavailable("The metrics store cannot be read right now.") from error
        sums: dict[str, float] = defaultdict(float)
        for _, values in buckets:
            for name, value in values.items():
                if name not in GAUGES:
                    sums[name] += value
        sampled = [values for _, values in buckets if "redis.evicted_keys.last" in values]
        evictions = (max(0, int(sampled[-1]["redis.evicted_keys.last"]
                                - sampled[0]["redis.evicted_keys.first"])) if sampled else 0)
        hits, misses = int(sums["cache.hits"]), int(sums["cache.misses"])
        avg_query = _ratio(sums["db.query_ms"], sums["db.queries"], 3)
        return {
            "time_range": time_range, "from": _iso(now - RANGES[time_range]), "to": _iso(now),
            "database": {
                "avg_query_time": avg_query, "slow_queries": int(sums["db.slow"]),
                "query_count": int(sums["db.queries"]),
                "slow_query_threshold": self.slow_query_ms,
                "connection_pool": {
                    "utilization": _ratio(sums["pool.utilisation_sum"],
                                          sums["pool.utilisation_samples"], 4),
                    "wait_time": _ratio(sums["pool.wait_ms"], sums["pool.checkouts"], 3)},
            },
            "cache": {"hit_rate": _ratio(hits, hits + misses, 4),
                      "miss_rate": _ratio(misses, hits + misses, 4),
                      "eviction_rate": round(evictions / RANGES[time_range], 6),
                      "hits": hits, "misses": misses, "evictions": evictions},
            "errors": {"rate": _ratio(sums["http.errors"], sums["http.requests"], 4),
                       "server_error_rate": _ratio(sums["http.server_errors"],
                                                   sums["http.requests"], 4),
                       "count": int(sums["http.errors"]), "requests": int(sums["http.requests"]),
                       "types": {name.removeprefix("error."): int(value)
                                 for name, value in sorted(sums.items())
                                 if name.startswith("error.")}},
            "usage_queue": self.usage_queue_status(),
        }

    def usage_queue_status(self) -> dict:
        """The write-behind queue: whether a drain runs (a heartbeat within
        `drain_beat_within` seconds), its backlog, the oldest record's age in seconds, and the
        records found lost; `configured` False without Redis. Also sets the Prometheus gauges."""
        if self.usage_queue is None:
            return {"configured": False, "running": False, "drains": 0, "backlog": None,
                    "oldest_pending_age": None, "lost_records": None}
        status = self.usage_queue.status(beat_within=self.drain_beat_within)
        prom.set_usage_queue(status)
        return {"configured": True, **status}

    def prometheus(self) -> tuple[bytes, str]:
        """The Prometheus exposition of every worker, with the usage queue read just now."""
        self.usage_queue_status()
        self._export_process_figures()
        return prom.render()

    def query_stats(self, limit: int = 10) -> dict:
        """getQueryStats: the slowest and the most frequent statements, literals removed."""
        self.flush()
        try:
            figures = self.sink.query_stats()
        except (CacheError, DatabaseError) as error:
            raise MetricsUnavailable("The metrics store cannot be read right now.") from error
        slowest = sorted(figures, key=lambda f: f.total_ms / f.calls, reverse=True)[:limit]
        frequent = sorted(figures, key=lambda f: (f.calls, f.total_ms), reverse=True)[:limit]
        return {
            "slow_queries": [{"query": f.query, "avg_duration": round(f.total_ms / f.calls, 3),
                              "max_duration": round(f.max_ms, 3), "call_count": f.calls,
                              "last_executed": _iso(f.last)} for f in slowest],
            "frequent_queries": [{"query": f.query, "call_count": f.calls,
                                  "total_duration": round(f.total_ms, 3)} for f in frequent],
        }

    def _export_process_figures(self) -> None:
        """The cache's counters and the pool's state, carried over at each flush and scrape
        rather than after every answer (reading the pool costs more than counting a request):
        what /metrics and the shared store show is as of the last flush or this scrape."""
        self._sync_cache_counts()
        prom.set_pool(self.pool_status())

    def _sync_cache_counts(self) -> None:
        """Carry the cache's own hit and miss counters into the metrics (as deltas)."""
        if self.cache is None:
            return
        with self._cache_lock:
            hits, misses = self.cache.hits, self.cache.misses
            new_hits, new_misses = hits - self._seen_hits, misses - self._seen_misses
            self._seen_hits, self._seen_misses = hits, misses
        if new_hits:
            self.collector.add("cache.hits", new_hits)
            prom.CACHE_HITS.inc(new_hits)
        if new_misses:
            self.collector.add("cache.misses", new_misses)
            prom.CACHE_MISSES.inc(new_misses)

    def _gauges(self) -> dict[str, float]:
        evicted = self.server.evicted_keys()
        return {} if evicted is None else {"redis.evicted_keys": evicted}

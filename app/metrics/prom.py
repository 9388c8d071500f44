"""Prometheus metrics (GET /metrics). Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py before the app is imported) makes every worker write to shared files and the
scrape sum them; without it the default registry of this process answers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter("relaygate_http_requests_total", "HTTP requests answered.",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("relaygate_http_request_duration_seconds", "Time to answer.",
                         ["method", "route", "status"])
UPSTREAM_LATENCY = Histogram("relaygate_upstream_request_duration_seconds",
                             "Time an upstream provider took to answer.", ["provider"],
                             buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
TOKENS = Counter("relaygate_tokens_total", "Tokens recorded.", ["provider", "model", "kind"])
COST = Counter("relaygate_cost_usd_total", "Cost recorded, in USD.", ["provider", "model"])
CACHE_HITS = Counter("relaygate_cache_hits_total", "Read-through cache hits.")
CACHE_MISSES = Counter("relaygate_cache_misses_total", "Read-through cache misses.")
DB_QUERY_LATENCY = Histogram("relaygate_db_query_duration_seconds", "SQL statement time.",
                             buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
POOL_CONNECTIONS = Gauge("relaygate_db_pool_connections", "Pooled connections by state.",
                         ["state"], multiprocess_mode="livesum")
POOL_WAITING = Gauge("relaygate_db_pool_waiting", "Callers waiting for a connection.",
                     multiprocess_mode="livesum")
# The usage queue, as the scraped worker read it from Redis and the ledger just now.
QUEUE_BACKLOG = Gauge("relaygate_usage_queue_backlog",
                      "Usage records queued and not stored yet.", multiprocess_mode="mostrecent")
QUEUE_OLDEST_AGE = Gauge("relaygate_usage_queue_oldest_pending_age_seconds",
                         "How long the oldest queued usage record has waited (0 when none).",
                         multiprocess_mode="mostrecent")
QUEUE_DRAINS = Gauge("relaygate_usage_queue_drains_running",
                     "drain-usage workers with a recent heartbeat.", multiprocess_mode="mostrecent")
QUEUE_LOST = Gauge("relaygate_usage_queue_lost_records",
                   "Queued usage records found lost with a Redis stream (from the ledger).",
                   multiprocess_mode="mostrecent")


# Each (method, route, status)'s counter and histogram children: `labels()` takes a lock and
# checks its arguments on every call; routes and statuses are few.
_http_children: dict[tuple[str, str, str], tuple] = {}
# Each (provider, model)'s token and cost children, for the same reason: models are the
# catalogue's.
_usage_children: dict[tuple[str, str], tuple] = {}
# The pool figures last exported by this process: the same figures are not written again.
_pool_exported: tuple | None = None


def http_request(method: str, route: str, status: str, seconds: float) -> None:
    labels = (method, route, status)
    children = _http_children.get(labels)
    if children is None:
        children = _http_children[labels] = (HTTP_REQUESTS.labels(*labels),
                                             HTTP_LATENCY.labels(*labels))
    children[0].inc()
    children[1].observe(seconds)


def observe_upstream(provider: str, seconds: float) -> None:
    UPSTREAM_LATENCY.labels(provider).observe(seconds)


def usage_accepted(record) -> None:
    labels = (record.account_type or "unknown", record.model)
    children = _usage_children.get(labels)
    if children is None:
        children = _usage_children[labels] = (TOKENS.labels(*labels, "input"),
                                              TOKENS.labels(*labels, "output"),
                                              COST.labels(*labels))
    children[0].inc(record.input_tokens)
    children[1].inc(record.output_tokens)
    children[2].inc(float(record.cost))


def set_pool(status: dict) -> None:
    global _pool_exported
    if status.get("size") is None:
        return
    figures = (status["in_use"], status["idle"], status["waiting"])
    if figures == _pool_exported:
        return
    _pool_exported = figures
    POOL_CONNECTIONS.labels("in_use").set(status["in_use"])
    POOL_CONNECTIONS.labels("idle").set(status["idle"])
    POOL_WAITING.set(status["waiting"])


def set_usage_queue(status: dict) -> None:
    """Export what UsageQueue.status found; a figure it could not read is left as it was."""
    if status.get("backlog") is not None:
        QUEUE_BACKLOG.set(status["backlog"])
        QUEUE_OLDEST_AGE.set(status["oldest_pending_age"] or 0)
        QUEUE_DRAINS.set(status["drains"])
    if status.get("lost_records") is not None:
        QUEUE_LOST.set(status["lost_records"])


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST

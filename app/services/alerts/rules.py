"""An alert's rule: which metric, compared how, and the state it moves to on each evaluation."""

from __future__ import annotations

import operator
import re
from datetime import datetime

# Numeric members of getPerformanceMetrics, as dotted paths of its JSON answer's names. Users
# type these into stored alert rules and the API documents them (`database.avgQueryTime`), so
# they stay in wire form; `value_of` maps each to the service's snake_case record.
METRIC_PATHS = (
    "database.avgQueryTime", "database.slowQueries", "database.queryCount",
    "database.connectionPool.utilization", "database.connectionPool.waitTime",
    "cache.hitRate", "cache.missRate", "cache.evictionRate", "cache.hits", "cache.misses",
    "cache.evictions", "errors.rate", "errors.serverErrorRate", "errors.count", "errors.requests",
    "usageQueue.oldestPendingAge", "usageQueue.backlog", "usageQueue.drains",
    "usageQueue.lostRecords",
)
_ERROR_TYPE = re.compile(r"^errors\.types\.[A-Z][A-Z0-9_]{0,63}$")
OPERATORS = {">": operator.gt, "<": operator.lt, ">=": operator.ge}


_CAPITAL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _snake(name: str) -> str:
    """`avgQueryTime` -> `avg_query_time`."""
    return _CAPITAL.sub(r"_\1", name).lower()


# Wire path -> the keys of MonitoringService.performance_metrics' record.
_RECORD_PATHS = {path: [_snake(part) for part in path.split(".")] for path in METRIC_PATHS}


def is_metric(path: str) -> bool:
    return path in METRIC_PATHS or bool(_ERROR_TYPE.match(path))


def value_of(metrics: dict, path: str) -> float | None:
    """The number at wire `path` in the metrics record; an error code not seen counts 0; None
    when not measured. An error code (`errors.types.RATE_LIMITED`) is a key as it is."""
    node = metrics
    parts = _RECORD_PATHS.get(path) or path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            return 0.0 if parts[:2] == ["errors", "types"] and depth == 2 else None
        node = node[part]
    return float(node) if isinstance(node, int | float) else None


def holds(value: float | None, op: str, threshold: float) -> bool:
    """Nothing measured never satisfies a rule: no alert fires on silence."""
    return value is not None and OPERATORS[op](value, threshold)


def step(state: str, pending_since: datetime | None, condition: bool, duration: int,
         now: datetime) -> tuple[str, datetime | None, str | None]:
    """(new state, pending since, event 'fired' | 'resolved' | None)."""
    if condition:
        if state == "firing":
            return "firing", pending_since, None
        since = pending_since if state == "pending" and pending_since else now
        if (now - since).total_seconds() >= duration:
            return "firing", since, "fired"
        return "pending", since, None
    return "ok", None, "resolved" if state == "firing" else None

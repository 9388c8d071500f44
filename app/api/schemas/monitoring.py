"""Schemas of performance monitoring (MonitoringInterface)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.schemas.common import QuerySchema
from app.metrics.sinks import RANGES

_ms = {"description": "Milliseconds; null when nothing was measured."}
_rate = {"description": "0..1; null when there was nothing to divide by."}


class MetricsArgsSchema(QuerySchema):
    time_range = fields.String(data_key="timeRange", load_default="1h",
                               validate=validate.OneOf(list(RANGES)))


class QueryStatsArgsSchema(QuerySchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(1, 100))


class ConnectionPoolMetricsSchema(Schema):
    utilization = fields.Float(allow_none=True, metadata={
        "description": "Average share of the pool in use when a connection was taken (0..1)."})
    waitTime = fields.Float(allow_none=True, metadata=_ms)


class DatabaseMetricsSchema(Schema):
    avgQueryTime = fields.Float(allow_none=True, metadata=_ms)
    slowQueries = fields.Integer()
    queryCount = fields.Integer()
    slowQueryThreshold = fields.Float(metadata={"description": "RELAYGATE_SLOW_QUERY_MS."})
    connectionPool = fields.Nested(ConnectionPoolMetricsSchema)


class CacheMetricsSchema(Schema):
    hitRate = fields.Float(allow_none=True, metadata=_rate)
    missRate = fields.Float(allow_none=True, metadata=_rate)
    evictionRate = fields.Float(metadata={"description": "Keys Redis evicted per second."})
    hits = fields.Integer()
    misses = fields.Integer()
    evictions = fields.Integer()


class ErrorMetricsSchema(Schema):
    rate = fields.Float(allow_none=True, metadata={"description": "Error answers (4xx and "
                                                                  "5xx) over all answers."})
    serverErrorRate = fields.Float(allow_none=True, metadata=_rate)
    count = fields.Integer()
    requests = fields.Integer()
    types = fields.Dict(keys=fields.String(), values=fields.Integer(),
                        metadata={"description": "Answers by error code."})


class UsageQueueMetricsSchema(Schema):
    configured = fields.Boolean(metadata={"description": "False without Redis (no queue)."})
    running = fields.Boolean(metadata={"description": "A drain-usage worker beat recently."})
    drains = fields.Integer(metadata={"description": "drain-usage workers running."})
    backlog = fields.Integer(allow_none=True, metadata={
        "description": "Usage records queued and not stored yet; null when Redis is down."})
    oldestPendingAge = fields.Float(allow_none=True, metadata={
        "description": "Seconds the oldest queued record has waited; null when none."})
    lostRecords = fields.Integer(allow_none=True, metadata={
        "description": "Queued records found lost with a Redis stream (flushed, or "
                       "restarted without persistence), from the database's ledger."})
    error = fields.String(metadata={"description": "Why a figure could not be read."})


class PerformanceMetricsSchema(Schema):
    timeRange = fields.String()
    start = fields.String(data_key="from", attribute="from")
    to = fields.String()
    database = fields.Nested(DatabaseMetricsSchema)
    cache = fields.Nested(CacheMetricsSchema)
    errors = fields.Nested(ErrorMetricsSchema)
    usageQueue = fields.Nested(UsageQueueMetricsSchema)


class SlowQuerySchema(Schema):
    query = fields.String()
    avgDuration = fields.Float(metadata=_ms)
    maxDuration = fields.Float(metadata=_ms)
    callCount = fields.Integer()
    lastExecuted = fields.String()


class FrequentQuerySchema(Schema):
    query = fields.String()
    callCount = fields.Integer()
    totalDuration = fields.Float(metadata=_ms)


class QueryStatsSchema(Schema):
    slowQueries = fields.List(fields.Nested(SlowQuerySchema))
    frequentQueries = fields.List(fields.Nested(FrequentQuerySchema))

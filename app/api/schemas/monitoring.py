"""Schemas of performance monitoring (MonitoringInterface)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import QuerySchema
from app.metrics.sinks import RANGES

_ms = {"description": "Milliseconds; null when nothing was measured."}
_rate = {"description": "0..1; null when there was nothing to divide by."}


class MetricsArgsSchema(QuerySchema):
    time_range = fields.String(load_default="1h",
                               validate=validate.OneOf(list(RANGES)))


class QueryStatsArgsSchema(QuerySchema):
    limit = fields.Integer(load_default=10, validate=validate.Range(1, 100))


class ConnectionPoolMetricsSchema(CamelSchema):
    utilization = fields.Float(allow_none=True, metadata={
        "description": "Average share of the pool in use when a connection was taken (0..1)."})
    wait_time = fields.Float(allow_none=True, metadata=_ms)


class DatabaseMetricsSchema(CamelSchema):
    avg_query_time = fields.Float(allow_none=True, metadata=_ms)
    slow_queries = fields.Integer()
    query_count = fields.Integer()
    slow_query_threshold = fields.Float(metadata={"description": "RELAYGATE_SLOW_QUERY_MS."})
    connection_pool = fields.Nested(ConnectionPoolMetricsSchema)


class CacheMetricsSchema(CamelSchema):
    hit_rate = fields.Float(allow_none=True, metadata=_rate)
    miss_rate = fields.Float(allow_none=True, metadata=_rate)
    eviction_rate = fields.Float(metadata={"description": "Keys Redis evicted per second."})
    hits = fields.Integer()
    misses = fields.Integer()
    evictions = fields.Integer()


class ErrorMetricsSchema(CamelSchema):
    rate = fields.Float(allow_none=True, metadata={"description": "Error answers (4xx and "
                                                                  "5xx) over all answers."})
    server_error_rate = fields.Float(allow_none=True, metadata=_rate)
    count = fields.Integer()
    requests = fields.Integer()
    types = fields.Dict(keys=fields.String(), values=fields.Integer(),
                        metadata={"description": "Answers by error code."})


class UsageQueueMetricsSchema(CamelSchema):
    configured = fields.Boolean(metadata={"description": "False without Redis (no queue)."})
    running = fields.Boolean(metadata={"description": "A drain-usage worker beat recently."})
    drains = fields.Integer(metadata={"description": "drain-usage workers running."})
    backlog = fields.Integer(allow_none=True, metadata={
        "description": "Usage records queued and not stored yet; null when Redis is down."})
    oldest_pending_age = fields.Float(allow_none=True, metadata={
        "description": "Seconds the oldest queued record has waited; null when none."})
    lost_records = fields.Integer(allow_none=True, metadata={
        "description": "Queued records found lost with a Redis stream (flushed, or "
                       "restarted without persistence), from the database's ledger."})
    error = fields.String(metadata={"description": "Why a figure could not be read."})


class PerformanceMetricsSchema(CamelSchema):
    time_range = fields.String()
    start = fields.String(data_key="from", attribute="from")
    to = fields.String()
    database = fields.Nested(DatabaseMetricsSchema)
    cache = fields.Nested(CacheMetricsSchema)
    errors = fields.Nested(ErrorMetricsSchema)
    usage_queue = fields.Nested(UsageQueueMetricsSchema)


class SlowQuerySchema(CamelSchema):
    query = fields.String()
    avg_duration = fields.Float(metadata=_ms)
    max_duration = fields.Float(metadata=_ms)
    call_count = fields.Integer()
    last_executed = fields.String()


class FrequentQuerySchema(CamelSchema):
    query = fields.String()
    call_count = fields.Integer()
    total_duration = fields.Float(metadata=_ms)


class QueryStatsSchema(CamelSchema):
    slow_queries = fields.List(fields.Nested(SlowQuerySchema))
    frequent_queries = fields.List(fields.Nested(FrequentQuerySchema))

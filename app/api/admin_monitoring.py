"""Performance metrics and query statistics (MonitoringInterface), for admins."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EnvelopeBlueprint
from app.api.schemas.monitoring import (
    MetricsArgsSchema,
    PerformanceMetricsSchema,
    QueryStatsArgsSchema,
    QueryStatsSchema,
)

blp = EnvelopeBlueprint(
    "admin_monitoring", __name__, url_prefix="/api/admin",
    description="Performance metrics and query statistics, summed over every "
                "worker (in Redis, or in the database when there is no Redis).")


@blp.route("/metrics")
class PerformanceMetrics(MethodView):
    @admin_required
    @blp.arguments(MetricsArgsSchema, location="query")
    @blp.response(200, PerformanceMetricsSchema)
    def get(self, args):
        """Performance over a time range (getPerformanceMetrics)

        Query times come from SQLAlchemy's cursor events, pool figures from the connection
        pool, cache rates from the read-through cache, evictions from Redis `INFO`, errors from
        our error envelope. Each worker adds its figures every few seconds
        (RELAYGATE_METRICS_FLUSH_SECONDS).
        """
        return services().monitoring.performance_metrics(args["time_range"])


@blp.route("/query-stats")
class QueryStats(MethodView):
    @admin_required
    @blp.arguments(QueryStatsArgsSchema, location="query")
    @blp.response(200, QueryStatsSchema)
    def get(self, args):
        """The slowest and most frequent SQL statements (getQueryStats)

        Statements are normalised: literals and parameters become `?`, lists collapse.
        """
        return services().monitoring.query_stats(args["limit"])

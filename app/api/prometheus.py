"""GET /metrics in the Prometheus text format, for a scraper."""

from __future__ import annotations

import hmac

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.deps import services
from app.errors import Unauthenticated

blp = Blueprint("prometheus", __name__, description="Prometheus scrape endpoint.")


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.response(200, description="Prometheus text exposition format.",
                  content_type="text/plain; version=0.0.4")
    @blp.alt_response(401, description="RELAYGATE_METRICS_TOKEN is set and was not given.")
    def get(self):
        """Prometheus metrics of every worker

        Requests by route and status with latency histograms, upstream latency per provider,
        tokens and cost, cache hits and misses, pool gauges, and the usage queue (backlog,
        oldest pending age, drain workers running, records found lost). When
        RELAYGATE_METRICS_TOKEN is set (production requires it), send it as
        `Authorization: Bearer <token>`.
        """
        token = services().settings.metrics_token
        if token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise Unauthenticated("The metrics token is missing or wrong.")
        body, content_type = services().monitoring.prometheus()
        return Response(body, content_type=content_type)

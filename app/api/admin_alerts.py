"""Performance alerts (setPerformanceAlert) and their webhook deliveries, for admins."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.deps import services
from app.api.envelope import EmptySchema, EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.alerts import (
    AlertCreatedSchema,
    AlertCreateSchema,
    AlertDeliverySchema,
    AlertSchema,
)

blp = EnvelopeBlueprint(
    "admin_alerts", __name__, url_prefix="/api/admin",
    description="Alerts on the performance metrics. `flask --app wsgi run-alerts` evaluates "
                "them (one instance at a time); when one fires or resolves, its webhook gets a "
                "JSON POST signed with HMAC-SHA256: `X-Relaygate-Signature: sha256=<hex>` over "
                "`<X-Relaygate-Timestamp>.<body>`, retried with exponential backoff.")


@blp.route("/alerts")
class Alerts(MethodView):
    @admin_required
    @blp.response(200, AlertSchema(many=True))
    def get(self):
        """List alerts, with their state"""
        return services().alerts.list()

    @admin_required
    @blp.arguments(AlertCreateSchema)
    @blp.response(201, AlertCreatedSchema)
    @blp.alt_response(422, schema=ErrorEnvelopeSchema,
                      description="Unknown metric, or a webhook that may not be called "
                                  "(not http/https; a private or loopback address).")
    def post(self, body):
        """Create an alert (setPerformanceAlert)

        `metric` is a dotted path into GET /api/admin/metrics (e.g. `errors.rate`,
        `database.avgQueryTime`, `cache.hitRate`), read over RELAYGATE_ALERT_WINDOW (5m).
        The alert fires once its condition has held for `duration` seconds, and resolves when
        it stops holding. A metric with nothing measured never satisfies a condition.
        """
        return services().alerts.create(**body)


@blp.route("/alerts/<alert_id>")
class Alert(MethodView):
    @admin_required
    @blp.response(200, AlertSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, alert_id):
        """Get an alert"""
        return services().alerts.get(alert_id)

    @admin_required
    @blp.response(200, EmptySchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def delete(self, alert_id):
        """Delete an alert and its delivery records"""
        services().alerts.delete(alert_id)
        return {}


@blp.route("/alerts/<alert_id>/deliveries")
class AlertDeliveries(MethodView):
    @admin_required
    @blp.response(200, AlertDeliverySchema(many=True))
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, alert_id):
        """The webhook deliveries of an alert, newest first"""
        return services().alerts.deliveries(alert_id)

"""Schemas of performance alerts (setPerformanceAlert)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.schemas.common import BodySchema
from app.services.alerts.rules import METRIC_PATHS, OPERATORS


class AlertCreateSchema(BodySchema):
    example = {"name": "Slow queries", "metric": "database.avgQueryTime", "threshold": 200,
               "operator": ">", "duration": 300}

    name = fields.String(validate=validate.Length(1, 100))
    metric = fields.String(required=True, validate=validate.Length(1, 100), metadata={
        "description": "A dotted path into getPerformanceMetrics: "
                       + ", ".join(METRIC_PATHS) + ", or errors.types.<CODE>."})
    threshold = fields.Float(required=True, allow_nan=False)
    operator = fields.String(required=True, validate=validate.OneOf(list(OPERATORS)))
    duration = fields.Integer(required=True, validate=validate.Range(0, 7 * 86400), metadata={
        "description": "Seconds the condition must hold before the alert fires."})
    webhook = fields.Url(schemes={"http", "https"}, require_tld=False,
                         validate=validate.Length(max=2000))


class AlertSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    metric = fields.String()
    threshold = fields.Float()
    operator = fields.String()
    duration = fields.Integer()
    webhook = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "ok, pending (holding, not yet for "
                                                   "`duration`) or firing."})
    pendingSince = fields.DateTime(attribute="pending_since", allow_none=True)
    firedAt = fields.DateTime(attribute="fired_at", allow_none=True)
    resolvedAt = fields.DateTime(attribute="resolved_at", allow_none=True)
    lastValue = fields.Float(attribute="last_value", allow_none=True)
    lastEvaluatedAt = fields.DateTime(attribute="last_evaluated_at", allow_none=True)
    createdAt = fields.DateTime(attribute="created_at")


class AlertCreatedSchema(Schema):
    alert = fields.Nested(AlertSchema)
    webhookSecret = fields.String(allow_none=True, metadata={
        "description": "Key of the HMAC-SHA256 in X-Relaygate-Signature. Shown once."})


class AlertDeliverySchema(Schema):
    id = fields.Integer()
    event = fields.String()
    status = fields.String(metadata={"description": "pending, delivered or failed."})
    attempts = fields.Integer()
    nextAttemptAt = fields.DateTime(attribute="next_attempt_at", allow_none=True)
    lastStatusCode = fields.Integer(attribute="last_status_code", allow_none=True)
    lastError = fields.String(attribute="last_error", allow_none=True)
    payload = fields.Dict()
    createdAt = fields.DateTime(attribute="created_at")
    deliveredAt = fields.DateTime(attribute="delivered_at", allow_none=True)

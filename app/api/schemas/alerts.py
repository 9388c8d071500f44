"""Schemas of performance alerts (setPerformanceAlert)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema
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


class AlertSchema(CamelSchema):
    id = fields.String()
    name = fields.String(allow_none=True)
    metric = fields.String()
    threshold = fields.Float()
    operator = fields.String()
    duration = fields.Integer()
    webhook = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "ok, pending (holding, not yet for "
                                                   "`duration`) or firing."})
    pending_since = fields.DateTime(allow_none=True)
    fired_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    last_value = fields.Float(allow_none=True)
    last_evaluated_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class AlertCreatedSchema(CamelSchema):
    alert = fields.Nested(AlertSchema)
    webhook_secret = fields.String(allow_none=True, metadata={
        "description": "Key of the HMAC-SHA256 in X-Relaygate-Signature. Shown once."})


class AlertDeliverySchema(CamelSchema):
    id = fields.Integer()
    event = fields.String()
    status = fields.String(metadata={"description": "pending, delivered or failed."})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    payload = fields.Dict()
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)

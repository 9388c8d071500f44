"""Schemas of the plans blueprint."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema
from app.vocabulary import PERIODS


class PlanLimitSchema(CamelSchema):
    plan = fields.String(metadata={"enum": ["free", "premium"]})
    model_type = fields.String(metadata={"enum": ["premium", "basic"]})
    limit = fields.Integer()
    period = fields.String(metadata={"enum": list(PERIODS)})


class PlanLimitUpdateSchema(BodySchema):
    example = {"limit": 100, "period": "day"}

    limit = fields.Integer(required=True, validate=validate.Range(0, 10**9))
    period = fields.String(required=True, validate=validate.OneOf(PERIODS))

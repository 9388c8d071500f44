"""Schemas of the quota routes (blueprint "usage", docs/design/api-refactor.md section 3.1),
and how query and body parameters combine."""

from __future__ import annotations

from marshmallow import EXCLUDE, fields, post_dump, validate

from app.api.envelope import ErrorSchema
from app.api.schemas.base import CamelSchema
from app.api.schemas.common import QuerySchema
from app.errors import InvalidInput
from app.services.quota.service import MAX_INCREMENT

_model = fields.String(validate=validate.Length(1, 200), metadata={
    "description": "A model id (openai/gpt-4o) or its name (GPT-4o); unknown models count as "
                   "basic.", "example": "openai/gpt-4o"})
_increment = fields.Integer(validate=validate.Range(1, MAX_INCREMENT), metadata={
    "description": "Uses to record (our extension; default 1)."})


class ActingForArgsSchema(QuerySchema):
    user_id = fields.String(validate=validate.Length(1, 36), metadata={
        "description": "Admins only: the user to act for."})


class UsageQueryArgsSchema(ActingForArgsSchema):
    model = _model


class UsageUpdateQueryArgsSchema(UsageQueryArgsSchema):
    increment = _increment


class UsageBodySchema(CamelSchema):
    """Section 6.2: older clients send parameters in the body; the query wins."""

    class Meta:
        unknown = EXCLUDE

    example: dict[str, object] = {"model": "openai/gpt-4o-mini"}

    model = _model


class UsageUpdateBodySchema(UsageBodySchema):
    example = {"model": "openai/gpt-4o-mini", "increment": 1}

    increment = _increment


class IdempotencyHeaderSchema(QuerySchema):
    idempotency_key = fields.String(data_key="Idempotency-Key",
                                    validate=validate.Length(1, 255), metadata={
                                        "description": "A retried update with the same key "
                                                       "counts once."})


def query_over_body(query: dict, body: dict | None) -> dict:
    """The parameters of both places, the query's winning; `model` must be in one of them."""
    merged = {**(body or {}), **query}
    if "model" not in merged:
        raise InvalidInput("The request did not validate.",
                           details={"model": ["Missing data for required field."]})
    return merged


class UsageSchema(CamelSchema):
    used = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    model_type = fields.String(required=True, metadata={"enum": ["premium", "basic"]})
    using_credits = fields.Boolean(metadata={
        "description": "Present when the limit is reached and credits pay for the use."})
    credits = fields.Integer(metadata={"description": "The credit balance, with usingCredits."})

    @post_dump
    def _credits_only_when_they_pay(self, data: dict, **kwargs) -> dict:
        if data.get("usingCredits") is None:
            data.pop("usingCredits", None)
            data.pop("credits", None)
        return data


class UsageCheckSchema(CamelSchema):
    can_proceed = fields.Boolean(required=True)
    usage = fields.Nested(UsageSchema, required=True)


class UsageUpdatedSchema(CamelSchema):
    updated = fields.Boolean(required=True)
    message = fields.String(required=True)


class ReservationSchema(CamelSchema):
    reservation_id = fields.String(attribute="id", required=True)
    expires_at = fields.DateTime(required=True)


class ReservationStateSchema(CamelSchema):
    reservation_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"enum": ["committed", "cancelled",
                                                            "expired"]})


class LimitErrorSchema(ErrorSchema):
    user_plan = fields.String(metadata={"enum": ["free", "premium"]})
    upgrade_action = fields.String(metadata={"enum": ["upgrade_to_premium", "buy_credits"]})


class LimitErrorEnvelopeSchema(CamelSchema):
    success = fields.Boolean(required=True, metadata={"example": False})
    error = fields.Nested(LimitErrorSchema, required=True)

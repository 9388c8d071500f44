"""Schemas of the model catalogue blueprint."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema, Money, QuerySchema
from app.vocabulary import MODEL_TYPES, PROVIDERS


def _price(data_key: str) -> Money:
    return Money(data_key=data_key, validate=validate.Range(0, 10**6),
                 metadata={"description": "USD per million tokens."})


class ModelUpdateSchema(BodySchema):
    example = {"inputPrice": "2.50", "outputPrice": "10.00", "contextWindow": 128000}

    name = fields.String(validate=validate.Length(1, 100))
    provider = fields.String(validate=validate.OneOf(PROVIDERS))
    model_type = fields.String(validate=validate.OneOf(MODEL_TYPES))
    upstream_model = fields.String(validate=validate.Length(1, 200))
    input_price = _price("inputPrice")
    output_price = _price("outputPrice")
    cache_write_price = _price("cacheWritePrice")
    cache_write_1h_price = Money(
        validate=validate.Range(0, 10**6),
        metadata={"description": "USD per million tokens of a cache write kept an hour "
                                 "(Anthropic's 1h TTL); defaults to twice the input price for "
                                 "Claude, to the cache-write price elsewhere."})
    cache_read_price = _price("cacheReadPrice")
    context_window = fields.Integer(allow_none=True,
                                    validate=validate.Range(1, 10**9))
    is_active = fields.Boolean()
    aliases = fields.List(
        fields.String(validate=validate.Length(1, 200)), validate=validate.Length(max=20),
        metadata={"description": "More names clients may send for this model on the client "
                                 "protocol routes (/v1/...), e.g. `claude-sonnet-4-5`.",
                  "example": ["claude-sonnet-4-5"]})


class ModelCreateSchema(ModelUpdateSchema):
    example = {"id": "openai/gpt-4o-2024-11-20", "name": "GPT-4o (2024-11-20)",
               "provider": "openai", "modelType": "premium", "upstreamModel": "gpt-4o-2024-11-20",
               "inputPrice": "2.50", "outputPrice": "10.00", "contextWindow": 128000}

    id = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9._:-]*(/[A-Za-z0-9._:-]+)?$", error="Not a valid model id."),
        metadata={"example": "openai/gpt-4o"})
    name = fields.String(required=True, validate=validate.Length(1, 100))
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))
    model_type = fields.String(required=True,
                               validate=validate.OneOf(MODEL_TYPES))
    upstream_model = fields.String(required=True,
                                   validate=validate.Length(1, 200))


class ModelSchema(CamelSchema):
    id = fields.String()
    name = fields.String()
    provider = fields.String()
    model_type = fields.String()
    upstream_model = fields.String()
    input_price = fields.Decimal()
    output_price = fields.Decimal()
    cache_write_price = fields.Decimal()
    cache_write1h_price = fields.Decimal(attribute="cache_write_1h_price")
    cache_read_price = fields.Decimal()
    context_window = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    aliases = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ModelQueryArgsSchema(QuerySchema):
    provider = fields.String(validate=validate.OneOf(PROVIDERS))
    model_type = fields.String(validate=validate.OneOf(MODEL_TYPES))
    is_active = fields.Boolean()

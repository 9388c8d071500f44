"""Schemas of GET /v1/models: OpenAI's model list, Anthropic's, and Anthropic's paging query."""

from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, fields, validate

from app.api.schemas.common import QuerySchema

# Who a model's provider is, as OpenAI's `owned_by` names it.
OWNERS = {"openai": "openai", "claude": "anthropic", "gemini": "google"}


class OpenAIModelSchema(Schema):
    id = fields.String(attribute="listed_id")
    object = fields.Constant("model")
    created = fields.Function(lambda model: int(datetime.fromisoformat(
        model["created_at"]).timestamp()))
    owned_by = fields.Function(lambda model: OWNERS.get(model["provider"], model["provider"]))


class OpenAIModelListSchema(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(OpenAIModelSchema), attribute="models")


class AnthropicModelSchema(Schema):
    type = fields.Constant("model")
    id = fields.String(attribute="listed_id")
    display_name = fields.String(attribute="name")
    created_at = fields.Function(lambda model: datetime.fromisoformat(
        model["created_at"]).isoformat().replace("+00:00", "Z"))


class AnthropicModelListSchema(Schema):
    data = fields.List(fields.Nested(AnthropicModelSchema), attribute="models")
    has_more = fields.Boolean()
    first_id = fields.Function(lambda page: page["models"][0]["listed_id"]
                               if page["models"] else None)
    last_id = fields.Function(lambda page: page["models"][-1]["listed_id"]
                              if page["models"] else None)


class ModelListArgsSchema(QuerySchema):
    """Anthropic's paging (the OpenAI list is never paged)."""

    # Anthropic's own (snake_case) names, not ours.
    after_id = fields.String(data_key="after_id", metadata={
        "description": "Anthropic shape: the page after this id."})
    before_id = fields.String(data_key="before_id", metadata={
        "description": "Anthropic shape: the page before it."})
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 1000),
                           metadata={"description": "Anthropic shape: models per page."})

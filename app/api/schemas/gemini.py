"""Schemas of the Gemini native routes: generateContent's body and Google's model list."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import QuerySchema


class GenerateContentBodySchema(Schema):
    """Gemini's GenerateContentRequest. Only what the books need is checked here; the body goes
    to a Gemini account as sent (every member, known or future)."""

    class Meta:
        unknown = INCLUDE

    example = {"contents": [{"role": "user", "parts": [{"text": "Hello, Gemini!"}]}],
               "generationConfig": {"maxOutputTokens": 256}}

    contents = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 100_000))
    systemInstruction = fields.Dict()
    generationConfig = fields.Dict()
    tools = fields.List(fields.Dict())


class GeminiCountTokensBodySchema(Schema):
    """Gemini's CountTokensRequest: `contents`, or a whole `generateContentRequest`."""

    class Meta:
        unknown = INCLUDE

    example = {"contents": [{"role": "user", "parts": [{"text": "Hello, Gemini!"}]}]}

    contents = fields.List(fields.Dict(), validate=validate.Length(1, 100_000))
    generateContentRequest = fields.Nested(GenerateContentBodySchema)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if not data.get("contents") and not data.get("generateContentRequest"):
            raise ValidationError("`contents` or `generateContentRequest` is required.",
                                  "contents")


class GeminiCountTokensSchema(CamelSchema):
    total_tokens = fields.Integer(required=True)


class StreamArgsSchema(QuerySchema):
    """streamGenerateContent answers Server-Sent Events, which Google's SDKs ask for with
    `alt=sse` (Google's other answer, one JSON array, is not offered)."""

    example = {"alt": "sse"}

    alt = fields.String(required=True, validate=validate.OneOf(["sse"]),
                        metadata={"example": "sse"})


class GeminiModelListArgsSchema(QuerySchema):
    example = {"pageSize": 50}

    pageSize = fields.Integer(load_default=1000, validate=validate.Range(1, 1000))
    pageToken = fields.String(validate=validate.Length(1, 300))


_METHODS = ["generateContent", "streamGenerateContent"]


class GeminiModelSchema(Schema):
    """A model as Google lists it: `models/<name>`, the name a client sends back."""

    name = fields.Function(lambda model: f"models/{model['listed_id']}")
    baseModelId = fields.String(attribute="listed_id")
    version = fields.Constant("001")
    displayName = fields.String(attribute="name")
    description = fields.Function(lambda model: f"{model['name']} ({model['provider']}), "
                                                f"through Relaygate")
    supportedGenerationMethods = fields.Constant(_METHODS)


class GeminiModelListSchema(Schema):
    models = fields.List(fields.Nested(GeminiModelSchema))
    nextPageToken = fields.Function(lambda page: page["models"][-1]["listed_id"]
                                    if page["has_more"] and page["models"] else None)

"""Schemas of the ai blueprint and of the OpenAI-compatible route."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from app.api.schemas.common import QuerySchema
from app.api.schemas.quota import UsageCheckSchema

_model = fields.String(validate=validate.Length(1, 200))


class ModelArgsSchema(QuerySchema):
    example = {"model": "openai/gpt-4o-mini"}

    model = _model


class MessageSchema(Schema):
    class Meta:
        unknown = INCLUDE

    role = fields.String(required=True, validate=validate.OneOf(
        ["system", "user", "assistant", "tool", "developer", "model", "function"]))
    content = fields.Raw(required=True)


class ChatBodySchema(Schema):
    """A chat request; members we do not name are passed to the provider as they are, except
    that a stream always asks OpenAI-format upstreams for its usage (`stream_options.include_usage`
    stays true), which is what the request is billed from."""

    class Meta:
        unknown = INCLUDE

    example = {"model": "openai/gpt-4o-mini", "stream": False,
               "messages": [{"role": "user", "content": "Hello!"}]}

    model = _model
    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           validate=validate.Length(1, 10_000))
    stream = fields.Boolean(load_default=True)
    max_tokens = fields.Integer(validate=validate.Range(1, 1_000_000))
    temperature = fields.Float(validate=validate.Range(0, 2))
    system = fields.Raw()


class OpenAIMessageSchema(MessageSchema):
    # OpenAI's API takes an assistant turn of tool calls with a null or no `content`, as the
    # openai SDK sends a tool round trip's history.
    content = fields.Raw(allow_none=True)


class OpenAIChatBodySchema(ChatBodySchema):
    model = fields.String(required=True, validate=validate.Length(1, 200))
    messages = fields.List(fields.Nested(OpenAIMessageSchema), required=True,
                           validate=validate.Length(1, 10_000))
    stream = fields.Boolean(load_default=False)


class AccessSchema(Schema):
    provider = fields.String(allow_none=True)
    providerAllowed = fields.Boolean()
    accountAvailable = fields.Boolean()


class CheckAccessSchema(UsageCheckSchema):
    access = fields.Nested(AccessSchema)


class ChatUsageSchema(Schema):
    requestId = fields.String()
    inputTokens = fields.Integer()
    outputTokens = fields.Integer()
    cacheWriteTokens = fields.Integer()
    cacheReadTokens = fields.Integer()
    totalTokens = fields.Integer()
    cost = fields.Decimal()


class ChatAnswerSchema(Schema):
    id = fields.String()
    model = fields.String()
    provider = fields.String()
    content = fields.String()
    usage = fields.Nested(ChatUsageSchema)
    upstream = fields.Dict(metadata={"description": "The provider's own answer."})


class AnthropicMessagesBodySchema(Schema):
    """Anthropic's Messages request. Only what routing needs is checked here; the body goes
    upstream as sent (every member, known or future), but for `model`."""

    class Meta:
        unknown = INCLUDE

    example = {"model": "claude-sonnet-4-5", "max_tokens": 1024,
               "messages": [{"role": "user", "content": "Hello, Claude!"}]}

    model = fields.String(required=True, validate=validate.Length(1, 200))
    messages = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 100_000))
    max_tokens = fields.Integer(validate=validate.Range(1, 10_000_000))
    stream = fields.Boolean(load_default=False)


class CountTokensBodySchema(AnthropicMessagesBodySchema):
    """What POST /v1/messages/count_tokens takes: a Messages request without max_tokens."""

    example = {"model": "claude-sonnet-4-5",
               "messages": [{"role": "user", "content": "Hello, Claude!"}]}


class CountTokensSchema(Schema):
    input_tokens = fields.Integer(required=True)


"""Schemas of the ai blueprint and of the OpenAI-compatible route."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import EXCLUDE, INCLUDE, Schema, fields, validate
from marshmallow.utils import missing

from app.api.schemas import checked
from app.api.schemas.base import CamelSchema
from app.api.schemas.checked import CheckedDumpSchema, CheckedSchema
from app.api.schemas.common import QuerySchema
from app.api.schemas.quota import UsageCheckSchema

_model = fields.String(validate=validate.Length(1, 200))


class ModelArgsSchema(QuerySchema):
    example = {"model": "openai/gpt-4o-mini"}

    model = _model

    def load(self, data, *, many=None, partial=None, unknown=None):
        # Every chat request's query: its one member checked as the field would, without
        # marshmallow; anything else (a bad model, another input type) is loaded by it.
        if (not many and not self.many and partial is None and unknown in (None, EXCLUDE)
                and isinstance(data, Mapping)):
            model = data.get("model", missing)
            if model is missing:
                return {}
            if checked.text(model, 200):
                return {"model": model}
        return super().load(data, many=many, partial=partial, unknown=unknown)


ROLES = ["system", "user", "assistant", "tool", "developer", "model", "function"]


class MessageSchema(Schema):
    class Meta:
        unknown = INCLUDE

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = fields.Raw(required=True)


_ROLES = frozenset(ROLES)


def _messages(value, longest: int) -> bool:
    """MessageSchema's rules: a role it names, and a content that is not null."""
    return (type(value) is list and 1 <= len(value) <= longest
            and all(type(message) is dict and type(message.get("role")) is str
                    and message["role"] in _ROLES and message.get("content") is not None
                    for message in value))


class ChatBodySchema(CheckedSchema):
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

    stream_default = True

    def certain(self, data) -> bool:
        return (checked.optional(data, "model", checked.text, 200)
                and _messages(data.get("messages"), 10_000)
                and checked.optional(data, "stream", lambda value: type(value) is bool)
                and checked.optional(data, "max_tokens", checked.integer, 1, 1_000_000)
                and checked.optional(data, "temperature", checked.number, 0, 2)
                and checked.optional(data, "system", lambda value: value is not None))

    def loaded(self, data) -> dict:
        body = super().loaded(data)
        if type(body.get("temperature")) is int:
            body["temperature"] = float(body["temperature"])  # as fields.Float gives it
        return body


class OpenAIMessageSchema(MessageSchema):
    # OpenAI's API takes an assistant turn of tool calls with a null or no `content`, as the
    # openai SDK sends a tool round trip's history.
    content = fields.Raw(allow_none=True)


class OpenAIChatBodySchema(ChatBodySchema):
    model = fields.String(required=True, validate=validate.Length(1, 200))
    messages = fields.List(fields.Nested(OpenAIMessageSchema), required=True,
                           validate=validate.Length(1, 10_000))
    stream = fields.Boolean(load_default=False)

    stream_default = False

    def certain(self, data) -> bool:
        return checked.text(data.get("model"), 200) and super().certain(data)


class AccessSchema(CamelSchema):
    provider = fields.String(allow_none=True)
    provider_allowed = fields.Boolean()
    account_available = fields.Boolean()


class CheckAccessSchema(UsageCheckSchema):
    access = fields.Nested(AccessSchema)


class ChatUsageSchema(CamelSchema):
    request_id = fields.String()
    input_tokens = fields.Integer()
    output_tokens = fields.Integer()
    cache_write_tokens = fields.Integer()
    cache_read_tokens = fields.Integer()
    total_tokens = fields.Integer()
    cost = fields.Decimal()


class ChatAnswerSchema(CheckedDumpSchema):
    id = fields.String()
    model = fields.String()
    provider = fields.String()
    content = fields.String()
    usage = fields.Nested(ChatUsageSchema)
    upstream = fields.Dict(metadata={"description": "The provider's own answer."})


class AnthropicMessagesBodySchema(CheckedSchema):
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

    def certain(self, data) -> bool:
        messages = data.get("messages")
        return (checked.text(data.get("model"), 200)
                and type(messages) is list and 1 <= len(messages) <= 100_000
                and all(type(message) is dict for message in messages)
                and checked.optional(data, "max_tokens", checked.integer, 1, 10_000_000)
                and checked.optional(data, "stream", lambda value: type(value) is bool))


class CountTokensBodySchema(AnthropicMessagesBodySchema):
    """What POST /v1/messages/count_tokens takes: a Messages request without max_tokens."""

    example = {"model": "claude-sonnet-4-5",
               "messages": [{"role": "user", "content": "Hello, Claude!"}]}


class CountTokensSchema(Schema):
    input_tokens = fields.Integer(required=True)



class ResponsesBodySchema(Schema):
    """An OpenAI Responses API request (Codex CLI, `client.responses.create`); members not
    named here are read by the translation or relayed as sent."""

    class Meta:
        unknown = INCLUDE

    example = {"model": "openai/gpt-4o-mini", "instructions": "Be brief.",
               "input": [{"type": "message", "role": "user",
                          "content": [{"type": "input_text", "text": "Hello!"}]}],
               "tools": [{"type": "function", "name": "shell", "description": "Run a command",
                          "parameters": {"type": "object",
                                         "properties": {"cmd": {"type": "string"}}}}],
               "stream": True, "store": False}

    model = fields.String(required=True, validate=validate.Length(1, 200))
    input = fields.Raw(required=True, metadata={
        "description": "A string, or message / function_call / function_call_output items."})
    instructions = fields.String(allow_none=True)
    stream = fields.Boolean(load_default=False)
    max_output_tokens = fields.Integer(allow_none=True, validate=validate.Range(1, 1_000_000))
    temperature = fields.Float(allow_none=True, validate=validate.Range(0, 2))

"""Anthropic's Messages API for Claude Code and the anthropic SDKs, at /v1/messages and CRS's
prefixes (/api/v1/messages, /claude/v1/messages); `?beta=true` is accepted.

Answers and errors are Anthropic's own shapes (app/api/protocol_errors.py), not our envelope.
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from app.api import protocol_errors
from app.api.auth import credential_required
from app.api.deps import credential, services
from app.api.native import native_answer
from app.api.relay_blueprint import RelayBlueprint
from app.api.schemas.ai import AnthropicMessagesBodySchema, CountTokensBodySchema, CountTokensSchema

blp = RelayBlueprint("anthropic_compat", __name__,
                description="Anthropic Messages API (Claude Code, the anthropic SDKs). Errors "
                            "are Anthropic's `{type: error, error: {type, message}}`.")
protocol_errors.register(blp, "anthropic")

PREFIXES = {"": "", "/api": "Api", "/claude": "Claude"}


class Messages(MethodView):
    @credential_required
    @blp.arguments(AnthropicMessagesBodySchema(), location="json")
    @blp.response(200, description="Anthropic's `message`, or its events as SSE "
                                   "(`message_start` ... `message_stop`), as the account sent "
                                   "them.")
    def post(self, body):
        """Messages, relayed as sent to a Claude account, translated for an OpenAI one"""
        return native_answer(services().relay.relay(
            credential(), "anthropic", request.get_json(),
            request.headers))


class CountTokens(MethodView):
    @credential_required
    @blp.arguments(CountTokensBodySchema(), location="json")
    @blp.response(200, CountTokensSchema, description=(
        "A Claude account's own count. When no account can answer: an estimate, marked by "
        "the header `x-relaygate-estimated: true`."))
    def post(self, body):
        """Count a Messages request's input tokens (not billed)"""
        counted, estimated = services().relay.count_tokens(
            credential(), request.get_json(), request.headers)
        headers = {"x-relaygate-estimated": "true"} if estimated else {}
        return counted, 200, headers


for prefix, name in PREFIXES.items():
    blp.route(f"{prefix}/v1/messages", endpoint=f"{name}Messages")(
        type(f"{name}Messages", (Messages,), {}))
    blp.route(f"{prefix}/v1/messages/count_tokens", endpoint=f"{name}CountTokens")(
        type(f"{name}CountTokens", (CountTokens,), {}))

"""GET /v1/models (also /api/v1 and /claude/v1, CRS's prefixes): what an API key may ask for.

Answered in the client's own shape, since the SDKs parse it: Anthropic's model list when the
request carries `anthropic-version` (the `anthropic` SDK and Claude Code always send it), else
OpenAI's. Each model is listed under the name a client should send back: the catalogue id in
OpenAI's list ('openai/gpt-4o'), the upstream model name in Anthropic's
('claude-sonnet-4-5-20250929', what Claude Code expects). Refusals come in the same shape.
"""

from __future__ import annotations

from flask import jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.auth import api_key_required
from app.api.deps import principal, services
from app.api.protocol_errors import domain_error_in
from app.api.schemas.client_models import (
    AnthropicModelListSchema,
    ModelListArgsSchema,
    OpenAIModelListSchema,
)
from app.errors import DomainError

blp = Blueprint("client_models", __name__,
                description="The models an API key may use, as the OpenAI and Anthropic SDKs "
                            "list them.")

PREFIXES = ("/v1", "/api/v1", "/claude/v1")


def _protocol() -> str:
    return "anthropic" if request.headers.get("anthropic-version") else "openai"


@blp.errorhandler(DomainError)
def _refused(error: DomainError):
    return domain_error_in(_protocol(), error)


class ClientModels(MethodView):
    @api_key_required
    @blp.arguments(ModelListArgsSchema, location="query")
    @blp.response(200, description=(
        "OpenAI's `{object: 'list', data: [{id, object: 'model', created, owned_by}]}`; with an "
        "`anthropic-version` header, Anthropic's `{data: [{type: 'model', id, display_name, "
        "created_at}], has_more, first_id, last_id}`. 401 in the same protocol's error shape."))
    def get(self, args):
        """List the active models this API key may use"""
        key = principal().data
        if _protocol() == "anthropic":
            page = services().models.offered_to(key, listed_as="upstream", **args)
            return jsonify(AnthropicModelListSchema().dump(page))
        page = services().models.offered_to(key, listed_as="id")
        return jsonify(OpenAIModelListSchema().dump(page))


for _prefix in PREFIXES:
    blp.route(f"{_prefix}/models", endpoint=f"models{_prefix.replace('/', '_')}")(ClientModels)

"""Gemini's own API for google-genai and Gemini CLI: generateContent and streamGenerateContent
at /v1beta/models/{model}:... (and /v1, the version newer google-genai releases default to),
also under /gemini; the key from `x-goog-api-key`, `?key=` or a bearer token.

The model is the path's (`models/` is Google's own prefix; any name a client protocol may send
resolves it, catalogue id included, slashes and all). To a Gemini account the body is relayed
as sent and the answer, or each SSE chunk, comes back as the account sent it. Errors are
Google's `{"error": {"code", "message", "status"}}` (app/api/protocol_errors.py).
`:countTokens` answers an estimate; `GET /v1beta/models` and `/v1beta/models/{model}`
describe the models the key may use.
"""

from __future__ import annotations

from flask import jsonify, request
from flask.views import MethodView
from werkzeug.routing import PathConverter

from app.api import protocol_errors
from app.api.auth import google_api_key_required, google_credential_required
from app.api.deps import credential, principal, services
from app.api.native import native_answer
from app.api.relay_blueprint import RelayBlueprint
from app.api.schemas.gemini import (
    GeminiCountTokensBodySchema,
    GeminiCountTokensSchema,
    GeminiModelListArgsSchema,
    GeminiModelListSchema,
    GeminiModelSchema,
    GenerateContentBodySchema,
    StreamArgsSchema,
)
from app.errors import NotFound

blp = RelayBlueprint("gemini_native", __name__,
                description="Gemini's generateContent API (google-genai, Gemini CLI). Errors "
                            "are Google's `{error: {code, message, status}}`.")
protocol_errors.register(blp, "gemini")


class ModelName(PathConverter):
    """The path's model: slashes allowed (`gemini/gemini-2.5-flash`) and any other character,
    so a name no model has reaches the view and is refused in Google's shape."""

    regex = "[^/](?s:.)*?"


def register_converters(app, api) -> None:
    app.url_map.converters["model"] = ModelName
    api.register_converter(ModelName, lambda converter: {"type": "string"})


PREFIXES = {"": "", "/gemini": "Gemini"}
VERSIONS = ("v1beta", "v1")


class GenerateContent(MethodView):
    @google_credential_required
    @blp.arguments(GenerateContentBodySchema(), location="json")
    @blp.response(200, description="Gemini's GenerateContentResponse, as the account sent it.")
    def post(self, body, model):
        """Generate content, relayed as sent to a Gemini account"""
        return native_answer(services().relay.relay(
            credential(), "gemini", request.get_json(), request.headers, model=model,
            stream=False))


class StreamGenerateContent(MethodView):
    @google_credential_required
    @blp.arguments(StreamArgsSchema, location="query")
    @blp.arguments(GenerateContentBodySchema(), location="json")
    @blp.response(200, description="GenerateContentResponse chunks as SSE (`alt=sse`), as "
                                   "the account sent them; the last gives the finish reason "
                                   "and the usage.")
    def post(self, args, body, model):
        """Stream generated content, relayed as sent to a Gemini account"""
        return native_answer(services().relay.relay(
            credential(), "gemini", request.get_json(), request.headers, model=model,
            stream=True))


class CountTokens(MethodView):
    @google_credential_required
    @blp.arguments(GeminiCountTokensBodySchema(), location="json")
    @blp.response(200, GeminiCountTokensSchema, description=(
        "`{totalTokens}`: an estimate (about four characters a token), marked by the header "
        "`x-relaygate-estimated: true`. Not billed."))
    def post(self, body, model):
        """Count a request's input tokens (Gemini CLI asks before compressing its history)"""
        counted = services().relay.estimate_gemini_tokens(credential(), model,
                                                          request.get_json(), request.headers)
        return counted, 200, {"x-relaygate-estimated": "true"}


class Models(MethodView):
    @google_api_key_required
    @blp.arguments(GeminiModelListArgsSchema, location="query")
    @blp.response(200, GeminiModelListSchema, description=(
        "Google's `{models: [{name: 'models/...', displayName, supportedGenerationMethods}], "
        "nextPageToken}`: the active models this API key may use."))
    def get(self, args):
        """List the active models this API key may use, as Google lists them"""
        # Listed under their upstream names (`models/gemini-2.5-flash`), as Gemini CLI expects.
        page = services().models.offered_to(principal().data, listed_as="upstream",
                                            after_id=args.get("pageToken"),
                                            limit=args["pageSize"])
        return jsonify(GeminiModelListSchema().dump(page))


class Model(MethodView):
    @google_api_key_required
    @blp.response(200, GeminiModelSchema, description=(
        "Google's model: `{name: 'models/...', displayName, supportedGenerationMethods}`; 404 "
        "NOT_FOUND for a name that routes nowhere or that this API key may not use."))
    def get(self, model):
        """A model this API key may use, as Google describes one"""
        found = services().models.offered_model(principal().data, model)
        if found is None:
            raise NotFound(f"No model this key may use is named {model!r}.",
                           code="MODEL_NOT_FOUND")
        return jsonify(GeminiModelSchema().dump(found))


for prefix, name in PREFIXES.items():
    for version in VERSIONS:
        base, tag = f"{prefix}/{version}/models", f"{name}{version.capitalize()}"
        blp.route(f"{base}/<model:model>:generateContent",
                  endpoint=f"{tag}GenerateContent")(
            type(f"{tag}GenerateContent", (GenerateContent,), {}))
        blp.route(f"{base}/<model:model>:streamGenerateContent",
                  endpoint=f"{tag}StreamGenerateContent")(
            type(f"{tag}StreamGenerateContent", (StreamGenerateContent,), {}))
        blp.route(f"{base}/<model:model>:countTokens", endpoint=f"{tag}CountTokens")(
            type(f"{tag}CountTokens", (CountTokens,), {}))
    blp.route(f"{prefix}/v1beta/models", endpoint=f"{name}Models")(
        type(f"{name}Models", (Models,), {}))
    blp.route(f"{prefix}/v1beta/models/<model:model>", endpoint=f"{name}Model")(
        type(f"{name}Model", (Model,), {}))

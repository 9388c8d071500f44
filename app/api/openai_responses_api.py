"""POST /v1/responses: OpenAI's Responses API (Codex CLI, `client.responses.create`), on
chat-fast; also at /openai/responses and /openai/v1/responses, where Codex's `base_url` may point.

To an OpenAI-compatible account flagged `supportsResponses` the request is relayed as sent
(but for `model`) and its events come back as they came. Any other account gets it translated
(app/protocols/openai_responses.py): chat completions for OpenAI-compatible ones, Messages for
Claude. Stateful members (`previous_response_id`, `store: true`, `background`,
`conversation`) and OpenAI's own tools are refused there with a 400 naming them. Errors are
OpenAI's `{"error": {"message", "type", "code", "param"}}`.
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from app.api import protocol_errors
from app.api.auth import credential_required
from app.api.deps import credential, services
from app.api.native import native_answer
from app.api.relay_blueprint import RelayBlueprint
from app.api.schemas.ai import ResponsesBodySchema

blp = RelayBlueprint("openai_responses", __name__,
                description="OpenAI's Responses API (Codex CLI). Errors are OpenAI's "
                            "`{error: {message, type, code, param}}`.")
protocol_errors.register(blp, "openai")

PATHS = {"/v1/responses": "Responses", "/openai/responses": "OpenAIResponses",
         "/openai/v1/responses": "OpenAIV1Responses"}


class Responses(MethodView):
    @credential_required
    @blp.arguments(ResponsesBodySchema(), location="json")
    @blp.response(200, description="A `response` object, or its events as SSE "
                                   "(`response.created` ... `response.completed`).")
    def post(self, body):
        """Responses, relayed to an account that serves them, translated for the others"""
        return native_answer(services().relay.relay(
            credential(), "responses", request.get_json(), request.headers))


for path, name in PATHS.items():
    blp.route(path, endpoint=name)(type(name, (Responses,), {}))

"""POST /v1/chat/completions: OpenAI's chat completions for any OpenAI SDK, on chat-fast.

To an OpenAI-compatible account the request is relayed as sent (tools, `n`, response_format,
seed, logprobs... all pass) and the answer comes back as the account sent it. A Claude model
is reached through translation (app/protocols); a Gemini model is answered in OpenAI's shape
from its text. Errors are OpenAI's `{"error": {"message", "type", "code", "param"}}`.
"""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from app.api import protocol_errors
from app.api.auth import credential_required
from app.api.deps import credential, services
from app.api.native import native_answer
from app.api.relay_blueprint import RelayBlueprint
from app.api.schemas.ai import OpenAIChatBodySchema

blp = RelayBlueprint("openai_compat", __name__, url_prefix="/v1",
                description="OpenAI-compatible chat completions (model in the body). Errors "
                            "are OpenAI's `{error: {message, type, code, param}}`.")
protocol_errors.register(blp, "openai")


@blp.route("/chat/completions")
class ChatCompletions(MethodView):
    @credential_required
    @blp.arguments(OpenAIChatBodySchema(), location="json")
    @blp.response(200, description="An OpenAI chat.completion, or its chunks as SSE.")
    def post(self, body):
        """Chat completions in OpenAI's format (chat-fast's checks and books)"""
        return native_answer(services().relay.relay(
            credential(), "openai", request.get_json(),
            request.headers))

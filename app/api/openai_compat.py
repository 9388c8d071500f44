"""POST /v1/chat/completions: the `chat` path in OpenAI's wire format, for any OpenAI SDK.

Answers are OpenAI's `chat.completion` (or `chat.completion.chunk` events ending with
`data: [DONE]`), not our envelope, since the SDKs parse them; errors keep our envelope, and
their error object also carries OpenAI's `type` and `param` (app/api/errors.py), so it is
OpenAI's error shape too.
"""

from __future__ import annotations

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.ai import STREAM_HEADERS, documented_failures
from app.api.auth import credential_required
from app.api.deps import credential, services
from app.api.schemas.ai import OpenAIChatBodySchema

blp = Blueprint("openai_compat", __name__, url_prefix="/v1",
                description="OpenAI-compatible chat completions (model in the body).")


@blp.route("/chat/completions")
class ChatCompletions(MethodView):
    @credential_required
    @blp.arguments(OpenAIChatBodySchema(), location="json")
    @blp.response(200, description="An OpenAI chat.completion, or its chunks as SSE.")
    @documented_failures
    def post(self, body):
        """Chat completions in OpenAI's format (the synchronous `chat` path)"""
        result = services().chat.run(credential(), body["model"], body, mode="chat",
                                     wire="openai")
        if result.stream is not None:
            return Response(result.stream, mimetype=result.media_type, headers=STREAM_HEADERS)
        return jsonify(result.body)

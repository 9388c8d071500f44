"""The ai blueprint: check-access and the three chat routes (sections 3.2, 5.3 and 6 of
docs/design/api-refactor.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from flask import Response, request
from flask.views import MethodView

from app.api.auth import credential_required, documented
from app.api.deps import credential, services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.ai import ChatAnswerSchema, ChatBodySchema, CheckAccessSchema, ModelArgsSchema
from app.api.schemas.quota import query_over_body

blp = EnvelopeBlueprint(
    "ai", __name__, url_prefix="/api/ai",
    description="Chat relay. `model` comes in the query (or, for older clients, the "
                "JSON body; the query wins). Callers use an API key.")

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
FAILURES = [
    (403, "The key may not use the model's provider (PROVIDER_NOT_ALLOWED)."),
    (404, "Unknown model (MODEL_NOT_FOUND)."),
    (429, "A key limit or the plan quota is reached; Retry-After when known."),
    (502, "The upstream failed on every account tried; nothing was billed."),
    (503, "No upstream account is available, or all are rate limited."),
    (504, "The upstream timed out."),
]


def documented_failures(view):
    """The failures in the view's OpenAPI document, without six layers that pass calls on."""

    def alt_responses(view):
        for status, description in FAILURES:
            view = blp.alt_response(status, schema=ErrorEnvelopeSchema,
                                    description=description)(view)
        return view

    return documented(view, alt_responses)


def answer(result):
    if result.stream is not None:
        return Response(result.stream, mimetype=result.media_type, headers=STREAM_HEADERS)
    return result.body


class ChatRoute(MethodView):
    """One chat route: they differ only in their mode (app/services/chat/modes.py)."""

    mode: ClassVar[str]

    def relay(self, query: dict, body: dict) -> Response | dict:
        args = query_over_body(query, body)
        return answer(services().chat.run(credential(), args["model"], body, mode=self.mode,
                                          headers=request.headers))


def chat_operation(summary: str, description: str) -> Callable:
    """A chat route's POST: a key, `model` in the query or body, the answer or its stream."""

    def post(self: ChatRoute, query: dict, body: dict) -> Response | dict:
        return self.relay(query, body)

    post.__doc__ = f"{summary}\n\n{description}"
    return credential_required(blp.arguments(ModelArgsSchema(), location="query")(
        blp.arguments(ChatBodySchema(), location="json")(
            blp.response(200, ChatAnswerSchema, description=(
                "With `stream: false`, one JSON answer. With `stream: true` (the default), "
                "`text/event-stream`: each upstream event as it arrives, then `event: usage` "
                "with the recorded usage (or `event: error` if the upstream failed midway)."))(
                documented_failures(post)))))


@blp.route("/check-access")
class CheckAccess(MethodView):
    @credential_required
    @blp.arguments(ModelArgsSchema(), location="query")
    @blp.response(200, CheckAccessSchema)
    @documented_failures
    def get(self, query):
        """May the caller use this model now? (no usage is recorded)

        The usage check of /api/usage/check, plus whether the key permits the model's provider
        and whether an upstream account is available now (`access`).
        """
        args = query_over_body(query, None)
        return services().chat.check_access(credential(), args["model"])

    @credential_required
    @blp.arguments(ModelArgsSchema(), location="query")
    @blp.arguments(ModelArgsSchema(), location="json", required=False)
    @blp.response(200, CheckAccessSchema)
    @documented_failures
    def post(self, query, body):
        """The same check for older clients that POST `model` in a JSON body"""
        args = query_over_body(query, body)
        return services().chat.check_access(credential(), args["model"])


@blp.route("/chat")
class ChatChat(ChatRoute):
    mode = "chat"
    post = chat_operation(
        "Chat, every check and record synchronous",
        "Checks read the system of record (no cache), the quota unit is reserved in the "
        "database, and the usage is stored before the answer ends (queued for the "
        "`drain-usage` worker only if the database cannot take it then). The safest and "
        "slowest of the three.")


@blp.route("/chat-optimized")
class ChatOptimized(ChatRoute):
    mode = "optimized"
    post = chat_operation(
        "Chat, checks in parallel and cache-first",
        "The key and the model are resolved in parallel and limits are read cache-first "
        "(cached entries are invalidated on every change); the quota unit is a hold in Redis "
        "and the account comes from the cached pool, as on chat-fast. The usage record goes "
        "to chat-fast's queue, stored by the `drain-usage` worker in batches (usually well "
        "under a second later), so no request writes the totals' rows itself. An operator "
        "who needs every answer's usage stored before it ends (a key's cost totals exact "
        "for its next request) sets RELAYGATE_CHAT_OPTIMIZED_USAGE=stored, at about one "
        "PostgreSQL commit more per request; /api/ai/chat always stores so.")


@blp.route("/chat-fast")
class ChatFast(ChatRoute):
    mode = "fast"
    post = chat_operation(
        "Chat, least added latency",
        "No SQL on a warm request. Limits are answered from Redis alone: the key and model "
        "from the cache, the quota unit as an atomic hold in Redis (counted by every check "
        "and by the other routes' reservations, so no route overshoots), the account from a "
        "cached pool that every account change invalidates. The usage record, with the quota "
        "unit and the account's totals, goes to a Redis Stream that the `drain-usage` worker "
        "stores in one transaction, acknowledged only after the commit, so a killed worker "
        "loses nothing. The trade-off: a key's token and cost totals, the stats and the "
        "database's quota counter follow once the worker has stored the record (usually well "
        "under a second), and a premium user past the limit (credits) or a Redis outage takes "
        "the database path.")

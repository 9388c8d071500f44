"""The quota routes under /api/usage (blueprint "usage"): check before a use, record it after
(sections 3.1, 5 and 6.2 of docs/design/api-refactor.md)."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import credential_required
from app.api.deps import credential, services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.quota import (
    ActingForArgsSchema,
    IdempotencyHeaderSchema,
    LimitErrorEnvelopeSchema,
    ReservationSchema,
    ReservationStateSchema,
    UsageBodySchema,
    UsageCheckSchema,
    UsageQueryArgsSchema,
    UsageUpdateBodySchema,
    UsageUpdatedSchema,
    UsageUpdateQueryArgsSchema,
    query_over_body,
)

blp = EnvelopeBlueprint(
    "usage", __name__, url_prefix="/api/usage",
    description="Usage quotas of users (or of keys without an owner). The caller "
                "is a user session, an API key, or an admin naming ?userId=.")

LIMIT_REACHED = {"schema": LimitErrorEnvelopeSchema, "description":
                 "The limit is reached: PREMIUM_LIMIT_EXCEEDED or BASIC_LIMIT_EXCEEDED, with "
                 "userPlan and upgradeAction; Retry-After says when the period resets."}


# Argument schemas are given as instances: from a class, webargs builds one per request.
_BODY = UsageBodySchema()


def _legacy_body() -> dict:
    """Section 6.2: `model` in a JSON body, read only when the query lacks it (a GET body is
    not documented in OpenAPI, and the hot path need not parse it)."""
    return blp.ARGUMENTS_PARSER.parse(_BODY, location="json")


@blp.route("/check")
class Check(MethodView):
    @credential_required
    @blp.arguments(UsageQueryArgsSchema(), location="query")
    @blp.response(200, UsageCheckSchema)
    @blp.alt_response(429, **LIMIT_REACHED)
    @blp.alt_response(422, schema=ErrorEnvelopeSchema, description="`model` is missing.")
    def get(self, query):
        """May the caller use this model now?

        Counts nothing. A premium user past the limit who holds credits may proceed; `usage`
        then says `usingCredits` and the balance. Older clients may send `model` in a JSON
        body; the query wins.
        """
        args = query if "model" in query else query_over_body(query, _legacy_body())
        return services().quota_gate.check(credential(), args["model"],
                                           user_id=args.get("user_id"))


@blp.route("/update")
class Update(MethodView):
    @credential_required
    @blp.arguments(UsageUpdateQueryArgsSchema(), location="query")
    @blp.arguments(UsageUpdateBodySchema(), location="json", required=False)
    @blp.arguments(IdempotencyHeaderSchema(), location="headers")
    @blp.response(200, UsageUpdatedSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema,
                      description="The Idempotency-Key was used for a different update.")
    def post(self, query, body, headers):
        """Record uses that happened

        Never refused for the limit: a use that happened is recorded even past it (premium
        users' credits pay first). A retry with the same `Idempotency-Key` counts once.
        """
        args = query_over_body(query, body)
        return services().quota_gate.update(
            credential(), args["model"], user_id=args.get("user_id"),
            increment=args.get("increment", 1), idempotency_key=headers.get("idempotency_key"))


@blp.route("/reserve")
class Reserve(MethodView):
    @credential_required
    @blp.arguments(UsageQueryArgsSchema(), location="query")
    @blp.arguments(UsageBodySchema(), location="json", required=False)
    @blp.response(201, ReservationSchema)
    @blp.alt_response(429, **LIMIT_REACHED)
    def post(self, query, body):
        """Take one unit now, for callers that must never overshoot

        Atomic: concurrent reservations never grant more than the limit. Commit the
        reservation after the use, or cancel it; one left alone gives itself back when it
        expires.
        """
        args = query_over_body(query, body)
        return services().quota_gate.reserve(credential(), args["model"],
                                             user_id=args.get("user_id"))


@blp.route("/reservations/<reservation_id>/commit")
class Commit(MethodView):
    @credential_required
    @blp.arguments(ActingForArgsSchema(), location="query")
    @blp.response(200, ReservationStateSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="It was cancelled.")
    def post(self, query, reservation_id):
        """Make a reservation's use final

        Committing twice is harmless. An expired reservation is recorded all the same.
        """
        return services().quota_gate.commit(credential(), reservation_id,
                                            user_id=query.get("user_id"))


@blp.route("/reservations/<reservation_id>/cancel")
class Cancel(MethodView):
    @credential_required
    @blp.arguments(ActingForArgsSchema(), location="query")
    @blp.response(200, ReservationStateSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="It was committed.")
    def post(self, query, reservation_id):
        """Give a reserved unit back"""
        return services().quota_gate.cancel(credential(), reservation_id,
                                            user_id=query.get("user_id"))

"""The sessions blueprint: admin login and the SessionInterface."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from app.api.auth import admin_required, session_required
from app.api.deps import client_address, principal, services
from app.api.envelope import EmptySchema, EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.sessions import (
    LoginSchema,
    SessionCleanupSchema,
    SessionCreateSchema,
    SessionExpirySchema,
    SessionRevokeAllSchema,
    SessionSchema,
    SessionTokenSchema,
    SessionUpdateSchema,
)

blp = EnvelopeBlueprint(
    "sessions", __name__, url_prefix="/api/sessions",
    description="Admin login and sessions (SessionInterface).")


def _client() -> dict:
    return {"ip_address": client_address(), "user_agent": request.user_agent.string or None}


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, SessionTokenSchema)
    @blp.alt_response(401, schema=ErrorEnvelopeSchema, description="Wrong credentials.")
    @blp.alt_response(429, schema=ErrorEnvelopeSchema,
                      description="Too many failed logins; see Retry-After.")
    @blp.alt_response(503, schema=ErrorEnvelopeSchema,
                      description="Too many logins at once; see Retry-After.")
    def post(self, body):
        """Log in as an admin

        The same answer for an unknown user and a wrong password. An address that keeps
        failing is refused with 429 and Retry-After for a while (growing lockouts); a
        username failing from many addresses makes addresses that failed wait a growing
        delay between attempts. 503 with Retry-After when too many logins hash at once.
        """
        return services().sessions.login(body["username"], body["password"], **_client())


@blp.route("")
class Sessions(MethodView):
    @admin_required
    @blp.arguments(SessionCreateSchema)
    @blp.response(201, SessionTokenSchema)
    def post(self, body):
        """Create a session for a user (createSession)

        How a trusted backend issues a session to one of its users. Default TTL 24 hours.
        """
        body.setdefault("ip_address", client_address())
        return services().sessions.create(**body)


@blp.route("/current")
class CurrentSession(MethodView):
    @session_required
    @blp.response(200, SessionSchema)
    def get(self):
        """Validate the bearer session token (validateSession)"""
        return principal().data

    @session_required
    @blp.arguments(SessionUpdateSchema)
    @blp.response(200, SessionExpirySchema)
    def patch(self, body):
        """Update the session's data or extend its life (updateSession)

        `sessionData` members replace those with the same name; `extendTTL` adds seconds, up
        to the maximum lifetime counted from the session's creation (RELAYGATE_SESSION_MAX_LIFETIME,
        30 days by default), which no extension passes.
        """
        return services().sessions.update(principal().token, **body)

    @session_required
    @blp.response(200, EmptySchema)
    def delete(self):
        """End the session (deleteSession)"""
        services().sessions.delete(principal().token)
        return {}


@blp.route("/revoke-all")
class RevokeAll(MethodView):
    @session_required
    @blp.response(200, SessionRevokeAllSchema)
    def post(self):
        """End all my sessions

        Every session of the bearer's user (an admin's or a user's) ends, this one included:
        after a lost device or a leaked token. Other users' sessions stay.
        """
        return services().sessions.revoke_all(principal().token)


@blp.route("/cleanup")
class Cleanup(MethodView):
    @admin_required
    @blp.response(200, SessionCleanupSchema)
    def post(self):
        """Delete expired sessions (cleanupExpiredSessions)"""
        return services().sessions.cleanup_expired()

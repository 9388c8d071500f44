"""Decorators that authenticate the caller before a view runs, and document it in OpenAPI."""

from __future__ import annotations

import functools

from flask import g, request
from flask_smorest import Blueprint

from app.api.deps import principal, services
from app.errors import Forbidden

# OpenAPI security requirements: any one of the listed schemes admits the caller.
Security = list[dict[str, list[str]]]
ADMIN: Security = [{"adminSession": []}]
API_KEY: Security = [{"apiKeyBearer": []}, {"apiKeyHeader": []}]
ANY_SESSION: Security = [{"session": []}]
USAGE_CALLER: Security = [{"session": []}, {"apiKeyBearer": []}, {"apiKeyHeader": []}]

SECURITY_SCHEMES = {
    "adminSession": {"type": "http", "scheme": "bearer", "bearerFormat": "rgs_ session token",
                     "description": "An admin session token from POST /api/sessions/login."},
    "session": {"type": "http", "scheme": "bearer", "bearerFormat": "rgs_ session token",
                "description": "Any session token (admin or user)."},
    "apiKeyBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "rg_ API key"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}


def _credentials() -> dict:
    # `api-key` is how Azure-style OpenAI clients send theirs; it is taken as x-api-key.
    return {"authorization": request.headers.get("Authorization"),
            "x_api_key": request.headers.get("x-api-key") or request.headers.get("api-key")}


def _guard(check, security):
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.principal = check(services().auth, **_credentials())
            return view(*args, **kwargs)

        return Blueprint.doc(security=security)(wrapper)

    return decorate


admin_required = _guard(lambda auth, **creds: auth.admin(**creds), ADMIN)
api_key_required = _guard(lambda auth, **creds: auth.api_key(**creds), API_KEY)
session_required = _guard(lambda auth, **creds: auth.session(**creds), ANY_SESSION)


def credential_required(view):
    """Read the caller's API key or session token into g.credential; the service checks it.

    For routes whose service authenticates together with its own reads (one Redis call).
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.credential = services().auth.credential(**_credentials())
        return view(*args, **kwargs)

    return Blueprint.doc(security=USAGE_CALLER)(wrapper)


admin_or_api_key_required = _guard(lambda auth, **creds: auth.admin_or_api_key(**creds),
                                   ADMIN + API_KEY)


def own_key_scope(api_key_id: str | None) -> str | None:
    """The apiKeyId a caller may act on: any for an admin, only its own for an API key."""
    caller = principal()
    if caller.kind != "api_key":
        return api_key_id
    if api_key_id is not None and api_key_id != caller.id:
        raise Forbidden("An API key may only see and record its own usage.")
    return caller.id

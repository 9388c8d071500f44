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
    "googApiKeyHeader": {"type": "apiKey", "in": "header", "name": "x-goog-api-key",
                         "description": "An API key, as Google's SDKs send theirs."},
    "googApiKeyQuery": {"type": "apiKey", "in": "query", "name": "key",
                        "description": "An API key in the URL, as Google's REST examples "
                                       "send theirs (kept out of the access log)."},
}
GOOGLE_CALLER: Security = [{"googApiKeyHeader": []}, {"googApiKeyQuery": []},
                           {"apiKeyBearer": []}]


def _credentials() -> dict:
    # `api-key` is how Azure-style OpenAI clients send theirs; it is taken as x-api-key.
    return {"authorization": request.headers.get("Authorization"),
            "x_api_key": request.headers.get("x-api-key") or request.headers.get("api-key")}


def documented(view, decorate):
    """`view` with the OpenAPI documentation `decorate(view)` has, without the layer that
    flask-smorest's documentation-only decorators (`doc`, `alt_response`) add, which only passes
    each call on."""
    view._apidoc = decorate(view)._apidoc
    return view


def _guard(check, security, read=None):
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.principal = check(services().auth, **(read or _credentials)())
            return view(*args, **kwargs)

        return documented(wrapper, Blueprint.doc(security=security))

    return decorate


admin_required = _guard(lambda auth, **creds: auth.admin(**creds), ADMIN)
api_key_required = _guard(lambda auth, **creds: auth.api_key(**creds), API_KEY)
session_required = _guard(lambda auth, **creds: auth.session(**creds), ANY_SESSION)


def _google_credentials() -> dict:
    # Google's SDKs send `x-goog-api-key`, its REST examples `?key=`; a bearer token also does.
    return {"authorization": request.headers.get("Authorization"),
            "x_api_key": request.headers.get("x-goog-api-key") or request.args.get("key")}


def _reading_credential(read, security):
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.credential = services().auth.credential(**read())
            return view(*args, **kwargs)

        return documented(wrapper, Blueprint.doc(security=security))

    return decorate


# Read the caller's API key or session token into g.credential; the service checks it. For
# routes whose service authenticates together with its own reads (one Redis call).
credential_required = _reading_credential(_credentials, USAGE_CALLER)
# The same, from where Google's clients put their key (the Gemini native routes).
google_credential_required = _reading_credential(_google_credentials, GOOGLE_CALLER)


admin_or_api_key_required = _guard(lambda auth, **creds: auth.admin_or_api_key(**creds),
                                   ADMIN + API_KEY)
google_api_key_required = _guard(lambda auth, **creds: auth.api_key(**creds), GOOGLE_CALLER,
                                 _google_credentials)


def own_key_scope(api_key_id: str | None) -> str | None:
    """The apiKeyId a caller may act on: any for an admin, only its own for an API key."""
    caller = principal()
    if caller.kind != "api_key":
        return api_key_id
    if api_key_id is not None and api_key_id != caller.id:
        raise Forbidden("An API key may only see and record its own usage.")
    return caller.id

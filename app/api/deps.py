"""How views reach the services built by create_app."""

from __future__ import annotations

from flask import Request, current_app, g, request

from app.bootstrap import Services, services_of


def services() -> Services:
    return services_of(current_app)


def principal():
    """Who is calling, as set by the auth decorators."""
    return g.principal


def credential():
    """The caller's unchecked credential, as set by credential_required."""
    return g.credential


def client_address() -> str | None:
    """The caller's address: X-Forwarded-For counts only from a configured trusted proxy."""
    return services().trusted_proxies.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"))


def current_request() -> Request:
    """The request itself, for code that reads it often: each `request.x` is a context lookup
    through werkzeug's proxy."""
    return request._get_current_object()  # type: ignore[attr-defined]

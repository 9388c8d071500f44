"""How views reach the services built by create_app."""

from __future__ import annotations

from flask import current_app, g


def services():
    return current_app.extensions["relaygate"]


def principal():
    """Who is calling, as set by the auth decorators."""
    return g.principal


def credential():
    """The caller's unchecked credential, as set by credential_required."""
    return g.credential

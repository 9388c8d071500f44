"""The console's admin session, carried in a cookie, and the CSRF tokens of its forms.

The cookie holds an ordinary admin session token (SessionService), HttpOnly, SameSite=Strict,
and Secure over HTTPS and always in production (behind a TLS-terminating proxy the request
itself may look like plain HTTP). A form's CSRF token is an HMAC of that session token under
the app's secret key: one per session, nothing stored, useless without the cookie it belongs
to. Before signing in, the login form's token is an HMAC of a random pre-login cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, g, request
from werkzeug.wrappers import Response  # flask's, and the redirects werkzeug builds

from app.api.deps import services
from app.errors import Forbidden, MissingSession

SESSION_COOKIE = "rg_console"
LOGIN_COOKIE = "rg_console_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def _mac(purpose: str, value: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def current_admin():
    """The admin whose session the cookie carries; Unauthenticated or Forbidden otherwise.

    Only the cookie counts: an Authorization header (API key or session) opens no page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise MissingSession("Sign in to use the console.")
    admin = services().auth.session(authorization=f"Bearer {token}", x_api_key=None)
    if not admin.is_admin:
        raise Forbidden("The console is for admins only.")
    g.console_token = token
    return admin


def csrf_token() -> str:
    """The token the current page's forms carry."""
    token = g.get("console_token")
    if token:
        return _mac("csrf", token)
    return _mac("login", g.get("login_nonce") or request.cookies.get(LOGIN_COOKIE, ""))


def check_csrf() -> None:
    """Every state-changing request carries its page's token, in the form or a header."""
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = csrf_token()
    has_basis = g.get("console_token") or request.cookies.get(LOGIN_COOKIE)
    if not has_basis or not hmac.compare_digest(sent, expected):
        raise Forbidden("The form's CSRF token is missing or wrong; reload the page.",
                        code="CSRF_FAILED")


def ensure_login_nonce(response: Response) -> Response:
    """Give the login page's browser its pre-login cookie (the basis of its CSRF token)."""
    if not request.cookies.get(LOGIN_COOKIE):
        _set(response, LOGIN_COOKIE, g.login_nonce, max_age=3600)
    return response


def new_login_nonce() -> None:
    g.login_nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)


def sign_in(response: Response, token: str, max_age: int) -> Response:
    _set(response, SESSION_COOKIE, token, max_age=max_age)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


def sign_out(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="Strict")
    return response


def _set(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True,
                        samesite="Strict",
                        secure=request.is_secure or services().settings.is_production)

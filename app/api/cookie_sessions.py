"""Flask's cookie session, opened without cost on a request that carries no session cookie.

Nothing in Relaygate keeps data in Flask's session (API sessions are bearer tokens), yet Flask
opens it on every request, and building its signing serializer is most of that work. A request
without the cookie gets the same empty session Flask would give it, without the serializer.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessions(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

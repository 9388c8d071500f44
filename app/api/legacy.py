"""The old /api/hasEngine* routes: redirects that keep method and body, marked deprecated."""

from __future__ import annotations

from flask import redirect, request
from flask.views import MethodView
from flask_smorest import Blueprint

blp = Blueprint("legacy", __name__, description="Deprecated routes; each redirects to its "
                "successor with 308, keeping the method, the body and the query string.")

SUCCESSORS = {
    "/api/hasEngine": "/api/ai/check-access",
    "/api/hasNotEngine": "/api/ai/chat",
    "/api/hasNotEngine-optimized": "/api/ai/chat-optimized",
    "/api/hasNotEngine-ultra-fast": "/api/ai/chat-fast",
}
# RFC 9745 (Deprecation, a date as @epoch-seconds) and RFC 8594 (Sunset, an HTTP date).
DEPRECATED_SINCE = "@1767225600"  # 2026-01-01T00:00:00Z
SUNSET = "Thu, 01 Jul 2027 00:00:00 GMT"


def _redirect_to(successor: str):
    target = successor
    if request.query_string:
        target += "?" + request.query_string.decode()
    response = redirect(target, code=308)
    response.headers["Deprecation"] = DEPRECATED_SINCE
    response.headers["Sunset"] = SUNSET
    response.headers["Link"] = f'<{successor}>; rel="successor-version"'
    return response


def _legacy_view(old: str, successor: str) -> type[MethodView]:
    def handle(self):
        return _redirect_to(successor)

    summary = f"Deprecated: use {successor}"
    methods = {}
    for method in ("get", "post"):
        view = Blueprint.doc(deprecated=True, summary=summary,
                             responses={"308": {"description": f"Redirect to {successor}"}})(
            handle)
        view.__doc__ = summary
        methods[method] = view
    return type(f"Legacy{old.rsplit('/', 1)[1].title().replace('-', '')}", (MethodView,), methods)


for _old, _new in SUCCESSORS.items():
    blp.route(_old)(_legacy_view(_old, _new))

"""Headers every answer carries, and the Content-Security-Policy of HTML pages.

Swagger UI at /docs: its assets come from the app itself, and its one inline script
(flask-smorest's template, which passes the spec URL) is allowed by its SHA-256, computed from
the page, so no other inline script can run. The web console and the portal (app/web) have no
inline script nor style at all: their policy allows neither, whatever a page might contain.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_CSP = ("default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'")
_EVERY_ANSWER = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
_WEB_PAGES = ("/console", "/portal")
_WEB_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


def register(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        # Headers.setdefault, for both, in one pass over the few headers an answer has.
        present = {name.lower() for name, _ in response.headers}
        for name, value in _EVERY_ANSWER:
            if name.lower() not in present:
                response.headers.add(name, value)
        if (response.mimetype == "text/html" and not response.is_streamed
                and not response.direct_passthrough):
            policy = (_WEB_CSP if request.path.startswith(_WEB_PAGES)
                      else content_security_policy(response.get_data(as_text=True)))
            response.headers.setdefault("Content-Security-Policy", policy)
        return response


def content_security_policy(page: str) -> str:
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page))
    return _CSP.format(hashes=hashes)

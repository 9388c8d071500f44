"""The web pages: the admin console at /console and the key holders' portal at /portal.

Server-rendered with Jinja; htmx and Chart.js are vendored under app/static/vendor (see
scripts/vendor_web_assets.sh). No page has an inline script: the Content-Security-Policy of
these pages (app/api/security_headers.py) allows scripts from the app's own origin only.
"""

from __future__ import annotations

from flask import Flask

from app.web import console, filters, portal


def init_web(app: Flask) -> None:
    app.register_blueprint(console.blp)
    app.register_blueprint(portal.blp)
    filters.register(app)

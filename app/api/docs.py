"""Swagger UI's assets, vendored from npm's swagger-ui-dist (see app/static/swagger-ui/NOTICE)
and served by the app itself, so /docs works with no internet."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory

SWAGGER_UI_VERSION = "5.35.0"
SWAGGER_UI_DIR = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"
ASSETS_URL = "/docs/assets/"

blp = Blueprint("docs_assets", __name__)


@blp.get(ASSETS_URL + "<path:filename>")
def asset(filename):
    return send_from_directory(SWAGGER_UI_DIR, filename, max_age=3600)

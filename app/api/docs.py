"""Swagger UI's assets, served by the app itself so /docs works with no internet."""

from __future__ import annotations

from flask import Blueprint, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"

blp = Blueprint("docs_assets", __name__)


@blp.get(ASSETS_URL + "<path:filename>")
def asset(filename):
    return send_from_directory(str(swagger_ui_path), filename, max_age=3600)

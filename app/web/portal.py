"""The key holders' portal: one static page; its script asks GET /api/keys/me/usage with the
key the holder pastes, which stays in the browser's session storage."""

from __future__ import annotations

from flask import Blueprint, render_template

blp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates")


@blp.get("/")
def portal():
    return render_template("portal/index.html")

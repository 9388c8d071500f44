"""GET /: a browser that opens the gateway's address lands on the admin console."""

from __future__ import annotations

from flask import Blueprint, redirect

blp = Blueprint("home", __name__)


@blp.get("/")
def home():
    return redirect("/console", code=302)

"""GET /: a browser that opens the gateway's address lands on Swagger UI (the console later)."""

from __future__ import annotations

from flask import Blueprint, redirect

blp = Blueprint("home", __name__)


@blp.get("/")
def home():
    return redirect("/docs", code=302)

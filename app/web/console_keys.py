"""The console's API keys: list, search and filter, create, edit, revoke and restore."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from app.api.deps import services
from app.api.schemas.keys import KeyCreateSchema, KeyUpdateSchema
from app.services.console.dashboard import REPORT_PERIODS
from app.web.forms import load

PAGE_SIZE = 25
SORTS = {"created": "created_at", "name": "name", "lastUsed": "last_used_at",
         "cost": "total_cost"}
_INTS = ("tokenLimit", "concurrencyLimit", "requestsPerMinute")
_CLEARABLE = (*_INTS, "dailyCostLimit", "expiresAt", "description")


def _filters(args) -> dict:
    active = {"active": True, "revoked": False}.get(args.get("status", ""))
    tags = [tag.strip() for tag in args.get("tag", "").split(",") if tag.strip()]
    permissions = args.get("permissions") or None
    page = max(1, int(args.get("page", "1"))) if args.get("page", "1").isdigit() else 1
    sort = args.get("sort", "created")
    return {"search": args.get("q", "").strip() or None, "is_active": active, "tags": tags,
            "permissions": permissions if permissions in ("all", "claude", "gemini", "openai")
            else None, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE,
            "sort_by": SORTS.get(sort, "created_at"),
            "sort_order": "ASC" if sort == "name" else "DESC"}


def list_keys():
    found = services().keys.list(**_filters(request.args))
    template = ("console/_keys_table.html" if request.headers.get("HX-Request")
                and request.headers.get("HX-Target") == "keys-table" else "console/keys.html")
    return render_template(template, page=found, args=request.args, sorts=list(SORTS))


def create_key():
    body = load(KeyCreateSchema(), request.form, ints=_INTS, lists=("tags",))
    issued = services().keys.create(body)
    return render_template("console/key_created.html", key=issued), 201


def show_key(key_id: str):
    period = request.args.get("period", "30d")
    report = services().dashboard.key_usage(key_id, period if period in REPORT_PERIODS else "30d")
    return render_template("console/key.html", report=report, key=report["key"],
                           periods=list(REPORT_PERIODS))


def edit_key(key_id: str):
    body = load(KeyUpdateSchema(), request.form, ints=_INTS, lists=("tags",),
                clearable=_CLEARABLE)
    body.setdefault("tags", [])
    services().keys.update(key_id, body)
    return redirect(url_for("console.show_key", key_id=key_id))


def revoke_key(key_id: str):
    services().keys.update(key_id, {"is_active": False})
    return redirect(url_for("console.show_key", key_id=key_id))


def restore_key(key_id: str):
    services().keys.update(key_id, {"is_active": True})
    return redirect(url_for("console.show_key", key_id=key_id))


def register(blp: Blueprint) -> None:
    blp.add_url_rule("/keys", view_func=list_keys, methods=["GET"])
    blp.add_url_rule("/keys", view_func=create_key, methods=["POST"])
    blp.add_url_rule("/keys/<key_id>", view_func=show_key, methods=["GET"])
    blp.add_url_rule("/keys/<key_id>", view_func=edit_key, methods=["POST"])
    blp.add_url_rule("/keys/<key_id>/revoke", view_func=revoke_key, methods=["POST"])
    blp.add_url_rule("/keys/<key_id>/restore", view_func=restore_key, methods=["POST"])

"""The console's upstream accounts: list with status, add, deactivate and activate, test."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from app.api.deps import services
from app.api.schemas.accounts import AccountCreateSchema, AccountUpdateSchema
from app.web.forms import load

PAGE_SIZE = 50
OAUTH_FIELDS = ("accessToken", "refreshToken", "expiresAt")
PROXY_FIELDS = {"proxyType": "type", "proxyHost": "host", "proxyPort": "port",
                "proxyUsername": "username", "proxyPassword": "password"}


def list_accounts():
    page = int(request.args["page"]) if request.args.get("page", "").isdigit() else 1
    found = services().accounts.list(provider=request.args.get("provider") or None,
                                     status=request.args.get("status") or None,
                                     limit=PAGE_SIZE, offset=(max(page, 1) - 1) * PAGE_SIZE)
    return render_template("console/accounts.html", page=found, args=request.args)


def create_account():
    form = request.form.to_dict()
    if form.pop("credential", "api_key") == "oauth":
        form.pop("apiKey", None)
        oauth = {name: form.pop(name, "").strip() or None for name in OAUTH_FIELDS}
        oauth = {name: value for name, value in oauth.items() if value is not None}
    else:
        oauth = None
        for name in OAUTH_FIELDS:
            form.pop(name, None)
    extra = {"oauthData": oauth} if oauth else {}
    proxy = _proxy(form)
    if proxy:
        extra["proxyConfig"] = proxy
    body = load(AccountCreateSchema(), form, ints=("priority",), extra=extra)
    services().accounts.create(body)
    return redirect(url_for("console.list_accounts"))


def _proxy(form: dict) -> dict | None:
    """The proxy fields (taken out of the form) as proxyConfig, or None when no type is set."""
    fields = {target: form.pop(name, "").strip() for name, target in PROXY_FIELDS.items()}
    if not fields["type"]:
        return None
    if fields["port"].isdigit():
        fields["port"] = int(fields["port"])
    return {name: value for name, value in fields.items() if value != ""}


def show_account(account_id: str):
    return render_template("console/account.html", account=services().accounts.detail(account_id))


def edit_account(account_id: str):
    """The fields shown; an empty API key field keeps the stored key."""
    body = load(AccountUpdateSchema(), request.form, ints=("priority", "maxConcurrency"),
                clearable=("description", "baseUrl", "maxConcurrency"))
    services().accounts.update(account_id, body)
    return redirect(url_for("console.list_accounts"))


def refresh_account(account_id: str):
    """Refresh the OAuth token now; the new token itself is not shown here."""
    services().token_refresher.refresh(account_id)
    return redirect(url_for("console.show_account", account_id=account_id))


def set_status(account_id: str, status: str):
    services().accounts.update_status(account_id, status)
    return redirect(url_for("console.list_accounts"))


def deactivate_account(account_id: str):
    return set_status(account_id, "inactive")


def activate_account(account_id: str):
    return set_status(account_id, "active")


def test_account(account_id: str):
    result = services().account_probe.test(account_id)
    return render_template("console/_account_test.html", result=result)


def register(blp: Blueprint) -> None:
    blp.add_url_rule("/accounts", view_func=list_accounts, methods=["GET"])
    blp.add_url_rule("/accounts", view_func=create_account, methods=["POST"])
    blp.add_url_rule("/accounts/<account_id>", view_func=show_account, methods=["GET"])
    blp.add_url_rule("/accounts/<account_id>", view_func=edit_account, methods=["POST"])
    blp.add_url_rule("/accounts/<account_id>/refresh", view_func=refresh_account,
                     methods=["POST"])
    blp.add_url_rule("/accounts/<account_id>/deactivate", view_func=deactivate_account,
                     methods=["POST"])
    blp.add_url_rule("/accounts/<account_id>/activate", view_func=activate_account,
                     methods=["POST"])
    blp.add_url_rule("/accounts/<account_id>/test", view_func=test_account, methods=["POST"])

"""The admin console: sign-in, sign-out and the dashboard; keys and accounts add their pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, g, make_response, redirect, render_template, request, url_for

from app.api.deps import client_address, services
from app.api.errors import status_of
from app.errors import DomainError, Unauthenticated
from app.services.console.dashboard import REPORT_PERIODS
from app.web import console_accounts, console_keys, console_reports, guard

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
PUBLIC = {"console.login"}


@blp.context_processor
def _page_context() -> dict:
    return {"csrf_token": guard.csrf_token, "admin": g.get("admin")}


@blp.before_request
def _admins_only():
    if request.endpoint in PUBLIC:
        guard.new_login_nonce()
        if request.method == "POST":
            guard.check_csrf()
        return None
    try:
        g.admin = guard.current_admin()
    except Unauthenticated:
        if request.method == "GET":
            return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
        raise
    if request.method != "GET":
        guard.check_csrf()
    return None


@blp.after_request
def _never_cached(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.errorhandler(DomainError)
def _error_page(error: DomainError):
    status = status_of(error)
    return render_template("console/error.html", error=error, status=status), status


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if target is None or parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return url_for("console.dashboard")
    return target


@blp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        try:
            found = services().sessions.login(
                request.form.get("username", ""), request.form.get("password", ""),
                ip_address=client_address(), user_agent=request.user_agent.string or None)
        except DomainError as failure:
            error = failure
        else:
            response = redirect(_safe_next(request.form.get("next")))
            return guard.sign_in(response, found["session_token"],
                                 services().settings.session_ttl_seconds)
    page = render_template("console/login.html", error=error, next=request.values.get("next"))
    response = make_response(page, status_of(error) if error else 200)
    return guard.ensure_login_nonce(response)


@blp.post("/logout")
def logout():
    services().sessions.delete(g.console_token)
    return guard.sign_out(redirect(url_for("console.login")))


@blp.get("/")
def dashboard():
    period = request.args.get("period", "24h")
    if period not in REPORT_PERIODS:
        period = "24h"
    return render_template("console/dashboard.html",
                           report=services().dashboard.overview(period),
                           periods=list(REPORT_PERIODS))


console_keys.register(blp)
console_accounts.register(blp)
console_reports.register(blp)

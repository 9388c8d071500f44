"""The request hook that feeds the monitoring service: every answer by route, status and code."""

from __future__ import annotations

import logging
import time

from flask import Flask, g

from app.api.deps import current_request
from app.services.monitoring import MonitoringService

log = logging.getLogger(__name__)


def instrument_requests(app: Flask, monitoring: MonitoringService) -> None:
    """Count every answer by route and status, and its error code, after it is made."""

    @app.before_request
    def _started():
        g.rg_started = time.perf_counter()

    @app.after_request
    def _finished(response):
        try:
            started = g.pop("rg_started", None)
            seconds = time.perf_counter() - started if started is not None else 0.0
            answered = current_request()
            rule = answered.url_rule
            route = rule.rule if rule else "<unmatched>"
            status = response.status_code
            code = None
            if status >= 400 and response.is_json:
                body = response.get_json(silent=True) or {}
                code = _code_of(body.get("error") if isinstance(body, dict) else None)
            monitoring.request_finished(answered.method, route, status, seconds, code)
        except Exception:  # measuring must never break an answer
            log.exception("could not record request metrics")
        return response


def _code_of(error) -> str | None:
    """Our code in an error body: the envelope's (and OpenAI's) `code`, or the reason of
    Google's ErrorInfo detail (Google's `code` is the HTTP status)."""
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    if isinstance(code, str):
        return code
    details = error.get("details")
    return next((detail["reason"] for detail in details if isinstance(detail, dict)
                 and isinstance(detail.get("reason"), str)), None) \
        if isinstance(details, list) else None

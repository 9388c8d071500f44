"""Hooks that feed the collector: SQLAlchemy cursor events, pool waits, Flask requests."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.db.pool import pool_utilisation
from app.metrics import prom
from app.metrics.collector import Collector

log = logging.getLogger(__name__)


def instrument_engine(engine: Engine, collector: Collector, *, slow_query_ms: float) -> None:
    def before(conn, cursor, statement, parameters, context, executemany):
        if context is not None:
            context._rg_started = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        started = getattr(context, "_rg_started", None)
        if started is None or collector.is_suppressed:
            return
        seconds = time.perf_counter() - started
        ms = seconds * 1000
        collector.add("db.queries")
        collector.add("db.query_ms", ms)
        if ms >= slow_query_ms:
            collector.add("db.slow")
        collector.query(statement, ms, time.time())
        prom.DB_QUERY_LATENCY.observe(seconds)

    def waited(seconds: float) -> None:
        collector.add("pool.checkouts")
        collector.add("pool.wait_ms", seconds * 1000)
        utilisation = pool_utilisation(engine)
        if utilisation is not None:
            collector.add("pool.utilisation_sum", utilisation)
            collector.add("pool.utilisation_samples")

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    if hasattr(engine.pool, "on_wait"):
        engine.pool.on_wait = waited


def instrument_requests(app: Flask, monitoring) -> None:
    """Count every answer by route and status, and its error code, after it is made."""

    @app.before_request
    def _started():
        g.rg_started = time.perf_counter()

    @app.after_request
    def _finished(response):
        try:
            started = g.pop("rg_started", None)
            seconds = time.perf_counter() - started if started is not None else 0.0
            route = request.url_rule.rule if request.url_rule else "<unmatched>"
            code = None
            if response.status_code >= 400 and response.is_json:
                body = response.get_json(silent=True) or {}
                code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
            monitoring.request_finished(request.method, route, response.status_code, seconds,
                                        code)
        except Exception:  # measuring must never break an answer
            log.exception("could not record request metrics")
        return response

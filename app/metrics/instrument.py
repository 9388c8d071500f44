"""Hooks that feed the collector: SQLAlchemy cursor events and pool waits (requests: app/api)."""

from __future__ import annotations

import logging
import time

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

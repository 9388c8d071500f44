"""The connection pool, instrumented: who is waiting for a connection, and for how long."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import cast

from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool


class TimedQueuePool(QueuePool):
    """A QueuePool that counts callers inside `connect()` and reports each one's wait.

    The wait includes a pre-ping or opening a new connection: what a request really waits for.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting = 0
        self.on_wait: Callable[[float], None] | None = None
        self._count_lock = threading.Lock()

    def connect(self):
        with self._count_lock:
            self.waiting += 1
        started = time.perf_counter()
        try:
            return super().connect()
        finally:
            with self._count_lock:
                self.waiting -= 1
            if self.on_wait is not None:
                self.on_wait(time.perf_counter() - started)

    def recreate(self) -> TimedQueuePool:
        pool = cast(TimedQueuePool, super().recreate())  # recreate() builds self.__class__
        pool.on_wait = self.on_wait  # engine.dispose() must not silently drop the observer
        return pool


def pool_status(engine: Engine) -> dict:
    """{total, idle, waiting, in_use} of this process's pool, plus its configured capacity
    (size, max_overflow)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return {"total": None, "idle": None, "waiting": None, "size": None, "max_overflow": None}
    idle, busy = pool.checkedin(), pool.checkedout()
    return {"total": idle + busy, "idle": idle, "waiting": getattr(pool, "waiting", 0),
            "in_use": busy, "size": pool.size(), "max_overflow": max(pool._max_overflow, 0)}


def pool_utilisation(engine: Engine) -> float | None:
    """Connections in use over the most the pool may open (0..1)."""
    status = pool_status(engine)
    if status["size"] is None:
        return None
    capacity = status["size"] + status["max_overflow"]
    return status["in_use"] / capacity if capacity else None

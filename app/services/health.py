"""HealthService: liveness and readiness."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.cache import CacheStore
from app.cache.probe import RedisServer
from app.errors import DatabaseError

if TYPE_CHECKING:
    from app.db.uow import UnitOfWorkFactory


class HealthService:
    def __init__(self, *, uow: UnitOfWorkFactory, cache: CacheStore | None, schema_heads: set[str],
                 usage_queue_status: Callable[[], dict] | None = None) -> None:
        self.uow = uow
        self.cache = cache
        self.server = RedisServer(cache)
        self.schema_heads = schema_heads
        self.usage_queue_status = usage_queue_status

    def readiness(self) -> tuple[bool, dict]:
        """(ready, {checks, usage_queue}): ready when this instance can serve. The usage queue
        (drain running, backlog, oldest age) is reported, never a reason to refuse traffic:
        answers are still recorded, only later."""
        checks = {"database": self._database()}
        if self.cache is not None and self.cache.enabled:
            checks["redis"] = self._redis()
        report = {"checks": checks}
        if self.usage_queue_status is not None:
            report["usage_queue"] = self.usage_queue_status()
        return all(check["ok"] for check in checks.values()), report

    def _database(self) -> dict:
        started = time.perf_counter()
        try:
            with self.uow() as uow:
                uow.health.ping()
                revisions = uow.health.schema_revisions()
        except DatabaseError as error:
            return {"ok": False, "error": error.code}
        at_head = revisions == self.schema_heads
        return {"ok": at_head, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "schema_at_head": at_head, "revision": sorted(revisions)}

    def _redis(self) -> dict:
        started = time.perf_counter()
        try:
            self.server.ping()
        except Exception as error:  # any client failure means "not ready", never a crash
            return {"ok": False, "error": type(error).__name__}
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

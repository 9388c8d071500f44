"""StorageHealthService: getStorageHealth, from the real pool and Redis INFO."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.cache.probe import RedisServer
from app.db.uow import UnitOfWorkFactory
from app.errors import DatabaseError


class StorageHealthService:
    def __init__(self, *, uow: UnitOfWorkFactory, redis: RedisServer,
                 pool_status: Callable[[], dict], dialect: str) -> None:
        self.uow = uow
        self.redis = redis
        self.pool_status = pool_status
        self.dialect = dialect

    def check(self) -> dict:
        # The pool is read first, so the probe's own connection does not count as in use.
        pool = self.pool_status()
        started = time.perf_counter()
        try:
            with self.uow.separate() as uow:
                uow.health.ping()
            database: dict[str, object] = {
                "connected": True, "latency": round((time.perf_counter() - started) * 1000, 3)}
        except DatabaseError as error:
            database = {"connected": False, "latency": None, "error": error.code}
        # The document calls the database `postgres`; `dialect` says what it really is.
        return {"postgres": {**database, "dialect": self.dialect, "pool_status": pool},
                "redis": self.redis.health()}

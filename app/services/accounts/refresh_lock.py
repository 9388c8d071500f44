"""The per-account lock that keeps two workers from refreshing one OAuth token at once.

Redis (SET NX PX, released only by its owner) when it answers; otherwise a lock column on the
account row, taken by one conditional UPDATE, so no database transaction stays open while
the token endpoint is called. Both expire on their own if the holder dies.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Unpack

from app.cache.locks import RefreshLocks
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry


class RefreshLock(Service):
    def __init__(self, *, ttl_seconds: float, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.ttl_seconds = ttl_seconds
        self.redis = RefreshLocks(self.cache)

    def acquire(self, account_id: str, owner: str) -> str | None:
        """'redis' or 'database' (where the lock was taken), or None if someone holds it."""
        taken = self.redis.take(account_id, owner, int(self.ttl_seconds * 1000))
        if taken is not None:
            return "redis" if taken else None
        return "database" if self._acquire_row(account_id, owner) else None

    def release(self, account_id: str, owner: str, where: str) -> None:
        if where == "redis":
            self.redis.release(account_id, owner)
        else:
            self._release_row(account_id, owner)

    @db_retry
    def _acquire_row(self, account_id: str, owner: str) -> bool:
        now = self.clock()
        with self.uow() as uow:
            taken = uow.accounts.try_lock_refresh(
                account_id, owner, now + timedelta(seconds=self.ttl_seconds), now)
            uow.commit()
        return taken

    @db_retry
    def _release_row(self, account_id: str, owner: str) -> None:
        with self.uow() as uow:
            uow.accounts.unlock_refresh(account_id, owner)
            uow.commit()

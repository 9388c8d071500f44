"""Concurrency leases on upstream accounts: Redis when it is up, the database otherwise.

A lease is one request's hold on one of an account's `maxConcurrency` slots. Leases expire on
their own (the TTL setting), so a worker that dies mid-request frees its slot; a long stream
calls `Lease.renew()` to keep it. While Redis is down, new leases come from the database; each
lease is released to the store that granted it, so the two stores never mix their counts; during
such an outage each store enforces the limit on its own, so an account may briefly carry up to
twice its maxConcurrency until the Redis leases expire.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Unpack

from app.cache import CacheStore
from app.cache.slots import AccountLeaseSlots
from app.db.models import Account, AccountLease
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry


class RedisLeases:
    """The leases in Redis (app/cache/slots.py): the same admission as a key's slots."""

    def __init__(self, cache: CacheStore | None, ttl_seconds: int) -> None:
        self.slots = AccountLeaseSlots(cache)
        self.ttl_ms = ttl_seconds * 1000

    def try_acquire(self, account_id: str, max_concurrency: int, lease_id: str) -> bool | None:
        """Granted or not; None when Redis is unavailable."""
        answer = self.slots.acquire(account_id, lease_id, max_concurrency, self.ttl_ms)
        return None if answer is None else answer.admitted

    def renew(self, account_id: str, lease_id: str) -> bool:
        return self.slots.renew(account_id, lease_id, self.ttl_ms)

    def release(self, account_id: str, lease_id: str) -> None:
        self.slots.release(account_id, lease_id)


class DatabaseLeases(Service):
    def __init__(self, *, ttl_seconds: int, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.ttl = timedelta(seconds=ttl_seconds)

    @db_retry
    def try_acquire(self, account_id: str, max_concurrency: int, lease_id: str) -> bool:
        now = self.clock()
        with self.uow() as uow:
            # Holding the account's row lock makes count-then-insert one atomic step.
            if not uow.accounts.lock_for_leases(account_id):
                return False
            uow.account_leases.drop_expired(account_id, now)
            if uow.account_leases.count_live(account_id, now) >= max_concurrency:
                return False
            uow.account_leases.add(AccountLease(id=lease_id, account_id=account_id,
                                                expires_at=now + self.ttl, created_at=now))
            uow.commit()
        return True

    @db_retry
    def renew(self, account_id: str, lease_id: str) -> bool:
        with self.uow() as uow:
            renewed = uow.account_leases.extend(lease_id, self.clock() + self.ttl) == 1
            uow.commit()
        return renewed

    @db_retry
    def release(self, account_id: str, lease_id: str) -> None:
        with self.uow() as uow:
            uow.account_leases.remove(lease_id)
            uow.commit()


class Lease:
    """An account held for one request. Release it when the request ends (or use `with`)."""

    def __init__(self, account: Account, store: RedisLeases | DatabaseLeases | None = None,
                 lease_id: str | None = None) -> None:
        """No store (and no id): the account has no concurrency limit, nothing is held."""
        self.account = account
        self.id = lease_id
        self._store = store
        self.released = False

    def renew(self) -> bool:
        """Extend the lease by another TTL; False if it had already expired."""
        if self._store is None or self.id is None or self.released:
            return not self.released
        return self._store.renew(self.account.id, self.id)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        if self._store is not None and self.id is not None:
            self._store.release(self.account.id, self.id)  # Redis fails open: expiry frees it

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class LeaseManager:
    """Grants leases from Redis when it answers, from the database when it does not."""

    def __init__(self, *, cache: CacheStore | None, database: DatabaseLeases, ttl_seconds: int):
        self.database = database
        self.redis = RedisLeases(cache, ttl_seconds)

    def acquire(self, account: Account) -> Lease | None:
        if account.max_concurrency is None:
            return Lease(account)
        lease_id = str(uuid.uuid4())
        granted = self.redis.try_acquire(account.id, account.max_concurrency, lease_id)
        if granted is not None:
            return Lease(account, self.redis, lease_id) if granted else None
        if self.database.try_acquire(account.id, account.max_concurrency, lease_id):
            return Lease(account, self.database, lease_id)
        return None

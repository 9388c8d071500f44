"""What every service receives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypedDict

from app.cache import CacheStore
from app.config import RetryPolicy
from app.db.types import utcnow
from app.db.uow import UnitOfWorkFactory


class ServiceDeps(TypedDict, total=False):
    """The collaborators every Service takes as keywords; `uow` is the one it cannot lack."""

    uow: UnitOfWorkFactory
    cache: CacheStore | None
    clock: Callable[[], datetime]
    retry_policy: RetryPolicy | None
    cache_ttl: int


class Service:
    def __init__(self, *, uow: UnitOfWorkFactory, cache: CacheStore | None = None,
                 clock: Callable[[], datetime] = utcnow, retry_policy: RetryPolicy | None = None,
                 cache_ttl: int = 300) -> None:
        self.uow = uow
        self.cache = cache
        self.clock = clock
        self.retry_policy = retry_policy or RetryPolicy()
        self.cache_ttl = cache_ttl


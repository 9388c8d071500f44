"""The Redis connection every store shares, and the one place where Redis trouble fails open.

`client` None means Redis is not configured: every store then answers "unavailable" at once.
After an error the connection is skipped for `retry_after` seconds, so a dead server does not
add a timeout to every request; `fail_open` on a store method turns "Redis is down" into that
method's typed "unavailable" answer (None, False, 0...). Services never see redis-py.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

import redis

from app.cache.keys import RedisKeys
from app.cache.lua import Scripts
from app.cache.topology import Client, is_cluster

if TYPE_CHECKING:
    from app.cache.store import CacheStore

log = logging.getLogger(__name__)

# What a store raises when it does not fail open itself (the caller decides what it means).
CacheError = redis.RedisError

F = TypeVar("F", bound=Callable[..., Any])

# What a store is built on: the connection, the CacheStore that holds it, or None (off).
Connectable: TypeAlias = "RedisConnection | CacheStore | None"


class RedisConnection:
    def __init__(self, client: Client | None, prefix: str = "rg:", *, retry_after: float = 2.0):
        self.client = client
        self.prefix = prefix
        self.keys = RedisKeys(prefix)
        self.scripts = Scripts(client)
        self._retry_after = retry_after
        self._down_until = 0.0
        self._clustered = is_cluster(client)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    @property
    def clustered(self) -> bool:
        """A Redis Cluster: a script may touch only the keys it names, all in one slot."""
        return self._clustered

    def available(self) -> bool:
        return self.client is not None and time.monotonic() >= self._down_until

    def key(self, *parts: str) -> str:
        return self.keys.join(*parts)

    def failed(self, error: Exception) -> None:
        self._down_until = time.monotonic() + self._retry_after
        log.warning("redis unavailable, answering from the database: %s", error)

    def retry_now(self) -> None:
        """Forget the back-off: the next call tries Redis again."""
        self._down_until = 0.0


class RedisStore:
    """A store's base: its connection, given itself or as the CacheStore that holds it (off
    when None was given or Redis is not configured)."""

    def __init__(self, connection: Connectable):
        # A CacheStore carries the connection as `.redis`; services hand over their cache.
        found = getattr(connection, "redis", connection)
        self.redis = found if isinstance(found, RedisConnection) else RedisConnection(None)

    @property
    def client(self) -> Client:
        """The Redis client; CacheError when none is configured (a `fail_open` method never
        gets this far: it answers "unavailable" first)."""
        if self.redis.client is None:
            raise CacheError("Redis is not configured")
        return self.redis.client

    def available(self) -> bool:
        return self.redis.available()


def fail_open(unavailable: object, *, during_backoff: bool = False
              ) -> Callable[[F], F]:
    """Decorate a store method: while Redis is unavailable, or when the call fails, answer
    `unavailable` (the method's typed "unavailable") and start the connection's back-off.
    `during_backoff`: try even in the back-off (a write others must see if Redis is back)."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: RedisStore, *args, **kwargs):
            usable = self.redis.enabled if during_backoff else self.redis.available()
            if not usable:
                return unavailable
            try:
                return method(self, *args, **kwargs)
            except redis.RedisError as error:
                self.redis.failed(error)
                return unavailable

        return cast(F, wrapper)

    return decorate

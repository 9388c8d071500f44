"""Which instance evaluates alerts: the holder of a Redis lock, extended on every tick."""

from __future__ import annotations

import logging
import uuid

from app.cache import CacheStore
from app.cache.locks import EvaluatorLocks

log = logging.getLogger(__name__)


class EvaluatorLock:
    """Held for a few ticks by one instance; another takes over when that one stops ticking.

    Without Redis (or with Redis down) every instance evaluates: the alerts' compare-and-set
    state changes still fire each alert once.
    """

    def __init__(self, cache: CacheStore | None, ttl_seconds: float):
        self.locks = EvaluatorLocks(cache)
        self.ttl_ms = max(int(ttl_seconds * 1000), 1000)
        self.token = uuid.uuid4().hex

    def acquire_or_extend(self) -> bool:
        extended = self.locks.extend("", self.token, self.ttl_ms)
        if extended:
            return True
        taken = None if extended is None else self.locks.take("", self.token, self.ttl_ms)
        if taken is None:
            if self.locks.redis.enabled:
                log.warning("alert lock unavailable, evaluating anyway")
            return True
        return taken

    def release(self) -> None:
        self.locks.release("", self.token)  # on a Redis error it expires by itself anyway

"""Which instance evaluates alerts: the holder of a Redis lock, extended on every tick."""

from __future__ import annotations

import contextlib
import logging
import uuid

import redis

from app.cache import CacheStore

log = logging.getLogger(__name__)

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class EvaluatorLock:
    """Held for a few ticks by one instance; another takes over when that one stops ticking.

    Without Redis (or with Redis down) every instance evaluates: the alerts' compare-and-set
    state changes still fire each alert once.
    """

    def __init__(self, cache: CacheStore | None, ttl_seconds: float):
        self.cache = cache
        self.ttl_ms = max(int(ttl_seconds * 1000), 1000)
        self.token = uuid.uuid4().hex
        self.key = cache.key("alerts", "evaluator") if cache is not None else ""

    def acquire_or_extend(self) -> bool:
        if self.cache is None or not self.cache.enabled:
            return True
        client = self.cache.client
        try:
            if client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms):
                return True
            return bool(client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        except redis.RedisError as error:
            log.warning("alert lock unavailable, evaluating anyway: %s", error)
            return True

    def release(self) -> None:
        if self.cache is None or not self.cache.enabled:
            return
        with contextlib.suppress(redis.RedisError):  # it expires by itself anyway
            self.cache.client.eval(_RELEASE, 1, self.key, self.token)

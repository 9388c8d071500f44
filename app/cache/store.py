"""The Redis connection behind the cache, failing open: Redis trouble never fails a request."""

from __future__ import annotations

import logging
import time
from typing import Protocol, cast

from app.cache.topology import Client, is_cluster

log = logging.getLogger(__name__)

# A fill is kept only when no invalidation happened since the reader looked at the generation.
_FILL_IF_GENERATION = """
local current = redis.call('GET', KEYS[2]) or '0'
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class CachePolicy(Protocol):
    """What the read-through cache asks per call (the storage strategies in force)."""

    def reads_cache(self, namespace: str) -> bool: ...

    def cache_ttl(self, namespace: str) -> int | None: ...

    def invalidates(self, namespace: str) -> bool: ...


class CacheStore:
    """Namespaced Redis access for the read-through cache. `client` None means caching is off."""

    def __init__(self, client: Client | None, prefix: str = "rg:", *,
                 retry_after: float = 2.0) -> None:
        self.client = client
        self.prefix = prefix
        self._retry_after = retry_after
        self._down_until = 0.0
        self._fill = client.register_script(_FILL_IF_GENERATION) if client else None
        # The storage strategies (app.services.storage.policy), asked per call; None: defaults.
        self.policy: CachePolicy | None = None
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.client is not None

    @property
    def clustered(self) -> bool:
        """A Redis Cluster: a script may touch only the keys it names, all in one slot."""
        return is_cluster(self.client)

    def available(self) -> bool:
        return self.client is not None and time.monotonic() >= self._down_until

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def failed(self, error: Exception) -> None:
        # Skip Redis briefly so a dead server does not add a timeout to every request.
        self._down_until = time.monotonic() + self._retry_after
        log.warning("redis unavailable, answering from the database: %s", error)

    def read(self, value_key: str, generation_key: str) -> tuple[bytes | None, bytes | None]:
        # The client never decodes responses: values come back as bytes.
        value, generation = cast(list[bytes | None], self.client.mget(value_key, generation_key))
        return value, generation

    def fill(self, value_key: str, generation_key: str, generation: bytes | None, payload: str,
             ttl_ms: int) -> bool:
        expected = (generation or b"0").decode()
        return bool(self._fill(keys=[value_key, generation_key], args=[expected, payload, ttl_ms]))

    def invalidate(self, value_key: str, generation_key: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(generation_key)
        pipe.expire(generation_key, 7 * 24 * 3600)
        pipe.delete(value_key)
        pipe.execute()

    def try_lock(self, lock_key: str, ttl_ms: int) -> bool:
        return bool(self.client.set(lock_key, b"1", nx=True, px=ttl_ms))

    def unlock(self, lock_key: str) -> None:
        self.client.delete(lock_key)


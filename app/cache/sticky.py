"""Sticky-session bindings in Redis: `sticky:<api key id>:<session hash>` -> account id.

Each key lives `ttl_seconds` after its last use (GETEX renews it on every read). Fails open:
a Redis error marks the cache down for a moment and reads as "no binding", so the request is
scheduled afresh (StickySessions then keeps bindings in the database until Redis is back).
"""

from __future__ import annotations

from typing import cast

import redis

from app.cache.store import CacheStore


class StickySessionStore:
    def __init__(self, cache: CacheStore, ttl_seconds: int):
        self.cache = cache
        self.ttl_seconds = ttl_seconds

    def usable(self) -> bool:
        return self.cache.available()

    def _key(self, api_key_id: str, session_hash: str) -> str:
        return self.cache.key("sticky", api_key_id, session_hash)

    def bound(self, api_key_id: str, session_hash: str) -> str | None:
        """The bound account's id, its TTL renewed; None when unbound or Redis failed."""
        try:
            found = cast(bytes | None,
                         self.cache.client.getex(self._key(api_key_id, session_hash),
                                                 ex=self.ttl_seconds))
        except redis.RedisError as error:
            self.cache.failed(error)
            return None
        return found.decode() if found is not None else None

    def bind(self, api_key_id: str, session_hash: str, account_id: str) -> bool:
        """Bind the session to `account_id`; False when Redis failed (nothing was kept)."""
        try:
            self.cache.client.set(self._key(api_key_id, session_hash), account_id,
                                  ex=self.ttl_seconds)
        except redis.RedisError as error:
            self.cache.failed(error)
            return False
        return True

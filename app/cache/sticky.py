"""Sticky-session bindings in Redis (keys.sticky_session) -> the bound account's id.

Each key lives `ttl_seconds` after its last use (GETEX renews it on every read). Fails open:
Redis trouble reads as "no binding", so the request is scheduled afresh (StickySessions then
keeps bindings in the database until Redis is back).
"""

from __future__ import annotations

from collections.abc import Callable

from app.cache.codec import as_text
from app.cache.connection import Connectable, RedisStore, fail_open
from app.cache.ride_along import ride


class StickySessionStore(RedisStore):
    def __init__(self, connection: Connectable, ttl_seconds: int):
        super().__init__(connection)
        self.ttl_seconds = ttl_seconds

    def usable(self) -> bool:
        return self.available()

    @fail_open(None)
    def bound(self, api_key_id: str, session_hash: str) -> str | None:
        """The bound account's id, its TTL renewed; None when unbound or Redis failed."""
        found = self.client.getex(self.redis.keys.sticky_session(api_key_id, session_hash),
                                  ex=self.ttl_seconds)
        return as_text(found) if found is not None else None

    def bound_riding(self, api_key_id: str, session_hash: str,
                     answered: Callable[[str | None], None]) -> bool:
        """`bound`, riding the request's next round trip (app/cache/ride_along.py): `answered`
        gets the bound account's id (None: unbound, or Redis failed). False when it cannot
        ride (outside a riding block, or Redis unusable): ask `bound` then."""
        if not self.usable():
            return False

        def landed(found) -> None:
            if isinstance(found, Exception):
                if self.redis.available():  # not yet told by the pipeline that failed
                    self.redis.failed(found)
                answered(None)
            else:
                answered(as_text(found) if found is not None else None)

        key = self.redis.keys.sticky_session(api_key_id, session_hash)
        return ride(self.redis, "GETEX", key, "EX", self.ttl_seconds, answered=landed)

    @fail_open(False)
    def bind(self, api_key_id: str, session_hash: str, account_id: str) -> bool:
        """Bind the session to `account_id`; False when Redis failed (nothing was kept)."""
        self.client.set(self.redis.keys.sticky_session(api_key_id, session_hash),
                        account_id, ex=self.ttl_seconds)
        return True

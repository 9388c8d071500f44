"""Locks held by a token: SET NX PX to take, a script to extend or release only by the owner.

Two key patterns: the OAuth refresh lock per account (keys.oauth_refresh_lock) and the alert
evaluator's (keys.alert_evaluator_lock). Every call fails open, answering None: the services
decide what a lock they could not ask about means (RefreshLock takes the database's instead;
the alert scheduler evaluates anyway).
"""

from __future__ import annotations

from app.cache.connection import RedisStore, fail_open


class _LockStore(RedisStore):
    def _key(self, ident: str) -> str:
        raise NotImplementedError

    @fail_open(None)
    def take(self, ident: str, token: str, ttl_ms: int) -> bool | None:
        """True when taken, False when someone holds it, None when Redis is unavailable."""
        return bool(self.client.set(self._key(ident), token, nx=True, px=ttl_ms))

    @fail_open(None, during_backoff=True)
    def extend(self, ident: str, token: str, ttl_ms: int) -> bool | None:
        """Another `ttl_ms` if `token` still holds it; None when Redis failed."""
        return bool(self.redis.scripts.run("lock_extend", [self._key(ident)], [token, ttl_ms]))

    @fail_open(None, during_backoff=True)
    def release(self, ident: str, token: str) -> None:
        """Let go if `token` holds it (on a Redis error the lock's TTL ends it)."""
        self.redis.scripts.run("lock_release", [self._key(ident)], [token])


class RefreshLocks(_LockStore):
    """One per upstream account: the worker refreshing its OAuth token."""

    def _key(self, ident: str) -> str:
        return self.redis.keys.oauth_refresh_lock(ident)


class EvaluatorLocks(_LockStore):
    """One for the deployment: the instance evaluating alerts (the ident is ignored)."""

    def _key(self, ident: str) -> str:
        return self.redis.keys.alert_evaluator_lock()

"""The storage strategies' change signal: one Redis counter every process polls."""

from __future__ import annotations

from app.cache.connection import RedisStore, fail_open


class StrategySignal(RedisStore):
    @fail_open(False, during_backoff=True)
    def announce(self) -> bool:
        """Raise the counter (after a switch committed); False when Redis failed."""
        self.client.incr(self.redis.keys.strategy_version())
        return True

    @fail_open(None)
    def current(self) -> bytes | str | None:
        """The counter as Redis holds it (b"0" when never raised); None when unavailable."""
        return self.client.get(self.redis.keys.strategy_version()) or b"0"

"""Failed-login counters in Redis: one hash per client address or username (keys.login_failures).

Fails open: on Redis trouble `states` answers None and `count_failure` False; LoginThrottle
(app/services/login_throttle.py, the rules) then counts in the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.cache.connection import RedisStore, fail_open


@dataclass(frozen=True)
class FailureState:
    """A counter as both stores keep it (milliseconds since the epoch)."""

    failures: int = 0
    window_ends_ms: int = 0
    last_failure_ms: int = 0
    locked_until_ms: int = 0


class LoginFailureStore(RedisStore):
    @fail_open(None)
    def states(self, *subjects: str) -> list[FailureState] | None:
        pipe = self.client.pipeline(transaction=False)
        for subject in subjects:
            pipe.hmget(self.redis.keys.login_failures(subject), "failures", "window_ends_ms",
                       "last_failure_ms", "locked_until_ms")
        return [FailureState(*(int(value or 0) for value in values))
                for values in pipe.execute()]

    @fail_open(False)
    def count_failure(self, subject: str, *, now_ms: int, window_ms: int, lock_after: int,
                      lockout_ms: int, max_lockout_ms: int, memory_ms: int) -> bool:
        """One more failure, counted by the rules in scripts/login_failure.lua."""
        self.redis.scripts.run(
            "login_failure", [self.redis.keys.login_failures(subject)],
            [now_ms, window_ms, lock_after, lockout_ms, max_lockout_ms, memory_ms])
        return True

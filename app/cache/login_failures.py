"""Failed-login counters in Redis: one hash per client address or username."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.cache.store import CacheStore

_SCRIPT = (Path(__file__).parent / "scripts" / "login_failure.lua").read_text()


@dataclass(frozen=True)
class FailureState:
    """A counter as both stores keep it (milliseconds since the epoch)."""

    failures: int = 0
    window_ends_ms: int = 0
    last_failure_ms: int = 0
    locked_until_ms: int = 0


class LoginFailureStore:
    """Redis access of the login throttle; the rules live in app/services/login_throttle.py.

    Raises redis.RedisError like any store; the service falls back to the database."""

    def __init__(self, cache: CacheStore):
        self.cache = cache
        self._count = cache.client.register_script(_SCRIPT) if cache.enabled else None

    def available(self) -> bool:
        return self._count is not None and self.cache.available()

    def key(self, subject: str) -> str:
        return self.cache.key("login", subject)

    def states(self, *subjects: str) -> list[FailureState]:
        pipe = self.cache.client.pipeline(transaction=False)
        for subject in subjects:
            pipe.hmget(self.key(subject), "failures", "window_ends_ms", "last_failure_ms",
                       "locked_until_ms")
        return [FailureState(*(int(value or 0) for value in values))
                for values in pipe.execute()]

    def count_failure(self, subject: str, *, now_ms: int, window_ms: int, lock_after: int,
                      lockout_ms: int, max_lockout_ms: int, memory_ms: int) -> None:
        self._count(keys=[self.key(subject)],
                    args=[now_ms, window_ms, lock_after, lockout_ms, max_lockout_ms, memory_ms])

"""LoginThrottle: the rules that keep login from being a lever against the gateway.

Two counters of failed logins, in Redis when it is up (one Lua call) and in the database
otherwise (one UPDATE):

- per client address: the `address_max_failures`-th failure within `address_window` locks the
  address out (429 with Retry-After) for `lockout`, doubling with each lockout up to
  `max_lockout`; an address quiet for `lockout_memory` starts again from `lockout`.
- per username: after `user_free_failures` failures within `user_window`, each further attempt
  must wait a delay that doubles per failure (from `user_delay` up to `user_max_delay`) since
  the last failure, but only from addresses that have failed recently themselves. So a
  username attacked from many addresses is slowed, never locked: the right password from an
  address that has not failed still logs in. (With the defaults, one address meets its own
  lockout before the username's delay, so its first 20 failures are all tried.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Unpack

from app.cache.login_failures import FailureState, LoginFailureStore
from app.errors import LimitExceeded
from app.security import sha256_hex
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

log = logging.getLogger(__name__)

TOO_MANY_FAILURES = "Too many failed logins; try again later."


@dataclass(frozen=True)
class ThrottleRules:
    """The login_* settings (their defaults live there, app/config.py), in seconds."""

    address_max_failures: int
    address_window: float
    lockout: float
    max_lockout: float
    lockout_memory: float
    user_free_failures: int
    user_window: float
    user_delay: float
    user_max_delay: float


class LoginThrottle(Service):
    def __init__(self, *, rules: ThrottleRules,
                 now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.rules = rules
        self.now_ms = now_ms
        self.store = LoginFailureStore(self.cache)

    def check(self, address: str | None, username: str) -> None:
        """Raise LimitExceeded (with retry_after) when this attempt must not be tried now."""
        address_key, user_key = _address_key(address), _user_key(username)
        address_state, user_state = self._states(address_key, user_key)
        now = self.now_ms()
        if address_state.locked_until_ms > now:
            self._refuse(address_state.locked_until_ms - now)
        recently_failed = address_state.last_failure_ms > now - self.rules.user_window * 1000
        if recently_failed and user_state.window_ends_ms > now:
            wait_until = user_state.last_failure_ms + self._user_delay_ms(user_state.failures)
            if wait_until > now:
                self._refuse(wait_until - now)

    def record_failure(self, address: str | None, username: str) -> None:
        now, rules = self.now_ms(), self.rules
        counts = [
            (_address_key(address), {"window_ms": int(rules.address_window * 1000),
                                     "lock_after": rules.address_max_failures}),
            (_user_key(username), {"window_ms": int(rules.user_window * 1000),
                                   "lock_after": 0}),
        ]
        common = {"now_ms": now, "lockout_ms": int(rules.lockout * 1000),
                  "max_lockout_ms": int(rules.max_lockout * 1000),
                  "memory_ms": int(rules.lockout_memory * 1000)}
        # When Redis fails the database counts them all.
        if all(self.store.count_failure(key, **params, **common) for key, params in counts):
            return
        self._count_in_database(counts, common)

    def _user_delay_ms(self, failures: int) -> int:
        excess = failures - self.rules.user_free_failures
        if excess < 0:
            return 0
        delay = self.rules.user_delay * 2 ** min(excess, 32)
        return int(min(delay, self.rules.user_max_delay) * 1000)

    @staticmethod
    def _refuse(wait_ms: int):
        raise LimitExceeded(TOO_MANY_FAILURES, code="TOO_MANY_LOGIN_FAILURES",
                            retry_after=wait_ms / 1000)

    def _states(self, address_key: str, user_key: str) -> tuple[FailureState, FailureState]:
        states = self.store.states(address_key, user_key)
        if states is not None:
            return states[0], states[1]
        return self._states_in_database(address_key, user_key)

    @db_retry
    def _states_in_database(self, *keys: str) -> tuple[FailureState, FailureState]:
        with self.uow() as uow:
            rows = [uow.login_failures.state(key) for key in keys]
        address_state, user_state = (
            FailureState(row.failures, row.window_ends_ms, row.last_failure_ms,
                         row.locked_until_ms) if row else FailureState() for row in rows)
        return address_state, user_state

    @db_retry
    def _count_in_database(self, counts, common) -> None:
        with self.uow() as uow:
            for key, params in counts:
                uow.login_failures.count_failure(key, **params, **common)
            uow.login_failures.forget_before(common["now_ms"] - common["memory_ms"])
            uow.commit()


def _address_key(address: str | None) -> str:
    return f"address:{address or 'unknown'}"


def _user_key(username: str) -> str:
    # Hashed: bounded length, and no attacker-chosen text in Redis keys or rows.
    return f"user:{sha256_hex(username)}"

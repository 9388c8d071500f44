"""Login failure counters: read one, count a failure in one statement, forget old ones."""

from __future__ import annotations

from sqlalchemy import BigInteger, case, delete, false, literal, select, update

from app.db.models import LoginFailure
from app.db.repositories.base import Repository
from app.db.repositories.upsert import insert_for


class LoginFailureRepository(Repository[LoginFailure]):
    model = LoginFailure

    def state(self, key: str) -> LoginFailure | None:
        return self.session.scalar(select(LoginFailure).where(LoginFailure.key == key))

    def count_failure(self, key: str, *, now_ms: int, window_ms: int, lock_after: int,
                      lockout_ms: int, max_lockout_ms: int, memory_ms: int) -> None:
        """One more failure, atomically: a lapsed window starts over; the `lock_after`-th
        failure in a window locks the key for the next lockout length, which then doubles (up
        to the maximum; back to `lockout_ms` once the key has been quiet for `memory_ms`).
        `lock_after` 0 never locks. Mirrors app/cache/scripts/login_failure.lua."""
        self.session.execute(
            insert_for(self.session, LoginFailure.__table__)
            .values(key=key, failures=0, window_ends_ms=0, last_failure_ms=0, locked_until_ms=0,
                    next_lockout_ms=lockout_ms)
            .on_conflict_do_nothing(index_elements=["key"]))
        # Typed, or PostgreSQL would cast these millisecond values to a 32-bit integer.
        now_ms, window_ms, lockout_ms, max_lockout_ms, memory_ms = (  # type: ignore[assignment]
            # The same values as typed SQL literals; the statement below reads only these.
            literal(value, BigInteger)
            for value in (now_ms, window_ms, lockout_ms, max_lockout_ms, memory_ms))
        row = LoginFailure
        # Every right-hand side below sees the row as it was before this statement.
        lapsed = row.window_ends_ms <= now_ms
        failures = case((lapsed, 1), else_=row.failures + 1)
        locking = (failures >= lock_after) if lock_after > 0 else false()
        lockout = case((row.last_failure_ms + memory_ms <= now_ms, lockout_ms),
                       else_=row.next_lockout_ms)
        self.session.execute(
            update(row).where(row.key == key).values(
                failures=case((locking, 0), else_=failures),
                window_ends_ms=case((lapsed, now_ms + window_ms), else_=row.window_ends_ms),
                locked_until_ms=case((locking, now_ms + lockout), else_=row.locked_until_ms),
                next_lockout_ms=case(
                    (locking, case((lockout * 2 > max_lockout_ms, max_lockout_ms),
                                   else_=lockout * 2)),
                    else_=lockout),
                last_failure_ms=now_ms,
            ).execution_options(synchronize_session=False))

    def forget_before(self, cutoff_ms: int) -> None:
        """Drop counters whose last failure is older than `cutoff_ms` (and not locked now)."""
        self.session.execute(delete(LoginFailure).where(
            LoginFailure.last_failure_ms < cutoff_ms, LoginFailure.locked_until_ms < cutoff_ms))

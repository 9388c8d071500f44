"""Helpers shared by the quota integration tests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from app.db.repositories.quota import CounterKey


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def all_at_once(count: int, action) -> list:
    """Run action(i) on `count` threads released together; results (or raised errors)."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        try:
            return action(i)
        except Exception as error:  # collected: the test asserts on what each call did
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def stored_count(services, subject_id: str, model_type: str, start: datetime,
                 period: str = "day") -> int:
    """The count in the database itself (the system of record)."""
    with services.uow() as uow:
        return uow.usage_counters.value(CounterKey(subject_id, model_type, period, start)).used


def today() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)

"""UsageRetention: where raw usage events live and for how long.

On PostgreSQL every UTC month of usage_events is its own partition: made before the first insert
into it, dropped whole by the cleanup once all of it is older than the retention. What is left
older than the retention goes in short batches, so no lock is held for long. Usage reported
through the API must fall within the retention (and not in the future), so a report never makes
a partition the cleanup would drop at once, or one of a year no cleanup ever reaches.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Unpack

from app import timebuckets
from app.errors import InvalidInput
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

log = logging.getLogger(__name__)

MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 36_500
DEFAULT_RETENTION_DAYS = 90
# How far ahead of our clock a reporter's clock may run.
FUTURE_TOLERANCE = timedelta(minutes=5)


class UsageRetention(Service):
    def __init__(self, *, retention_days: int = DEFAULT_RETENTION_DAYS,
                 cleanup_batch: int = 10_000, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        _check_days(retention_days)
        self.retention_days = retention_days
        self.cleanup_batch = cleanup_batch
        self._partitioned: bool | None = None
        self._months_ready: set[datetime] = set()

    def ensure_partition(self, occurred_at: datetime, now: datetime) -> None:
        """Make sure the event's month (and the next) has a partition before inserting."""
        month = timebuckets.month_start(occurred_at)
        if self._partitioned is False or month in self._months_ready:
            return
        self.prepare_partitions(month, month)
        # A month the cleanup may still drop is checked again next time, not remembered.
        if timebuckets.next_start(month, "month", UTC) > now - timedelta(MIN_RETENTION_DAYS):
            self._months_ready.add(month)

    @db_retry
    def prepare_partitions(self, first: datetime, last: datetime) -> None:
        """Create the monthly partitions from `first` to the month after `last` (bulk loads)."""
        with self.uow() as uow:
            self._partitioned = uow.usage_events.partitioned
            if not self._partitioned:
                return
            month = timebuckets.month_start(first)
            end = timebuckets.next_start(timebuckets.month_start(last), "month", UTC)
            while month <= end:
                uow.usage_events.ensure_partition(month)
                month = timebuckets.next_start(month, "month", UTC)
            uow.commit()

    def check_reported(self, occurred_at: datetime) -> None:
        """Refuse a reported use older than the retention or more than a few minutes ahead."""
        now = self.clock()
        earliest, latest = now - timedelta(days=self.retention_days), now + FUTURE_TOLERANCE
        if not earliest <= occurred_at <= latest:
            raise InvalidInput("timestamp is outside the usage retention.", details={
                "timestamp": [f"Must be between {earliest.isoformat()} and "
                              f"{latest.isoformat()} (the last {self.retention_days} days)."]})

    def cleanup(self, retention_days: int | None = None) -> dict:
        """Delete raw events (and their request ids) older than the retention; keep rollups.

        `retention_days` defaults to the configured retention. Whole months go by dropping
        their partition (PostgreSQL); the rest in batches of `cleanup_batch` rows, each its
        own short transaction.
        """
        retention_days = self.retention_days if retention_days is None else retention_days
        _check_days(retention_days)
        cutoff = self.clock() - timedelta(days=retention_days)
        deleted = 0
        for name, month in self._expired_partitions(cutoff):
            started = time.perf_counter()
            held = self._drop_partition(name)
            self._months_ready.discard(month)
            deleted += held
            log.info("cleanup: dropped %s (%d events) in %.2f s", name, held,
                     time.perf_counter() - started)
        deleted += self._in_batches(self._delete_batch, cutoff, "events")
        self._in_batches(self._forget_batch, cutoff, "request ids")
        return {"deleted_records": deleted, "remaining_records": self._count()}

    def _in_batches(self, step, cutoff: datetime, what: str) -> int:
        started, total, batches = time.perf_counter(), 0, 0
        while True:
            removed = step(cutoff)
            total, batches = total + removed, batches + 1
            if removed < self.cleanup_batch:
                break
        log.info("cleanup: deleted %d %s in %d batches in %.2f s", total, what, batches,
                 time.perf_counter() - started)
        return total

    @db_retry
    def _expired_partitions(self, cutoff: datetime) -> list[tuple[str, datetime]]:
        with self.uow() as uow:
            return [(name, month) for name, month in uow.usage_events.partitions()
                    if timebuckets.next_start(month, "month", UTC) <= cutoff]

    @db_retry
    def _drop_partition(self, name: str) -> int:
        with self.uow() as uow:
            held = uow.usage_events.drop_partition(name)
            uow.commit()
        return held

    @db_retry
    def _delete_batch(self, cutoff: datetime) -> int:
        with self.uow() as uow:
            deleted = uow.usage_events.delete_before(cutoff, self.cleanup_batch)
            uow.commit()
        return deleted

    @db_retry
    def _forget_batch(self, cutoff: datetime) -> int:
        with self.uow() as uow:
            forgotten = uow.usage_events.forget_request_ids_before(cutoff, self.cleanup_batch)
            uow.commit()
        return forgotten

    @db_retry
    def _count(self) -> int:
        with self.uow() as uow:
            return uow.usage_events.count()

    def rebuild_rollups(self, start: datetime, end: datetime) -> int:
        """Recompute the rollups of the UTC days from `start` to `end` from the raw events.

        For bulk loads and repairs, only where every raw event of those days is still kept.
        One transaction per day keeps each short. Returns the number of days rebuilt.
        """
        day = timebuckets.bucket_start(start, "day", UTC)
        days = 0
        while day < end:
            self._rebuild_day(day)
            day, days = day + timedelta(days=1), days + 1
        return days

    @db_retry
    def _rebuild_day(self, day: datetime) -> None:
        with self.uow() as uow:
            uow.usage_rollups.rebuild(day, day + timedelta(days=1))
            uow.commit()


def _check_days(retention_days: int) -> None:
    if not MIN_RETENTION_DAYS <= retention_days <= MAX_RETENTION_DAYS:
        # details name the request's own member (wire text, see app/errors.py).
        raise InvalidInput("retentionDays is out of range.", details={"retentionDays": [
            f"Must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS}."]})

"""Quota periods: a day or a month, starting at midnight in the configured time zone."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def period_bounds(period: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC start (inclusive) and end (exclusive) of the period that contains `now`."""
    return _bounds(period, now.astimezone(zone).date(), zone)


@functools.lru_cache(maxsize=256)
def _bounds(period: str, today: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    # Memoised: every check needs these, and they change once a day.
    if period == "day":
        first, following = today, today + timedelta(days=1)
    elif period == "month":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return _midnight(first, zone), _midnight(following, zone)

"""Calendar buckets (hour, day, month) of an IANA time zone, as UTC instants.

Every instant here is an aware datetime in UTC: Python compares two datetimes of the same zone by
their wall clock, which is wrong across a daylight-saving fold, so local time is used only to find
boundaries and to label them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNITS = ("hour", "day", "month")
HOUR = timedelta(hours=1)


def zone(name: str) -> ZoneInfo:
    """The zone of an IANA name; ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def utc_hour(instant: datetime) -> datetime:
    """The start of the UTC hour holding `instant`."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def is_whole_utc_hour(instant: datetime) -> bool:
    return utc_hour(instant) == instant.astimezone(UTC)


def bucket_start(instant: datetime, unit: str, tz: tzinfo) -> datetime:
    """The start (UTC) of the local hour, day or month of `tz` that holds `instant`."""
    local = instant.astimezone(tz)
    if unit == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif unit == "day":
        # fold=0: a midnight skipped by a DST jump resolves to the jump itself, the day's start.
        start = datetime(local.year, local.month, local.day, tzinfo=tz)
    elif unit == "month":
        start = datetime(local.year, local.month, 1, tzinfo=tz)
    else:
        raise ValueError(f"unknown unit {unit!r}")
    return start.astimezone(UTC)


def next_start(start: datetime, unit: str, tz: tzinfo) -> datetime:
    """The start (UTC) of the bucket after the one starting at `start`."""
    if unit == "hour":
        return start.astimezone(UTC) + HOUR
    local = start.astimezone(tz)
    if unit == "day":
        day = local.date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    if unit == "month":
        year, month = divmod(local.year * 12 + local.month, 12)
        return datetime(year, month + 1, 1, tzinfo=tz).astimezone(UTC)
    raise ValueError(f"unknown unit {unit!r}")


def previous_start(start: datetime, unit: str, tz: tzinfo) -> datetime:
    """The start (UTC) of the bucket before the one starting at `start`."""
    return bucket_start(start.astimezone(UTC) - timedelta(microseconds=1), unit, tz)


def bucket_starts(start: datetime, end: datetime, unit: str, tz: tzinfo) -> list[datetime]:
    """Starts (UTC) of every bucket that overlaps [start, end)."""
    starts = []
    current = bucket_start(start, unit, tz)
    end = end.astimezone(UTC)
    while current < end:
        starts.append(current)
        current = next_start(current, unit, tz)
    return starts


def month_start(instant: datetime) -> datetime:
    """The first instant of the UTC calendar month holding `instant`."""
    return bucket_start(instant, "month", UTC)

"""A key's own periods (its time zone, its day, its week from a reset day and hour), and the
models its weekly limit counts.

Weeks are numbered as claude-relay-service numbers them (src/models/redis.js
getPeriodString): `weekly_reset_day` 1 is Monday .. 7 Sunday (ISO), `weekly_reset_hour` 0-23 in
the key's zone; a week starts at that day and hour and lasts seven days.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from fnmatch import fnmatchcase

from app.timebuckets import zone as iana_zone

_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$")
DEFAULT_RESET_DAY, DEFAULT_RESET_HOUR = 1, 0


def key_zone(name: str) -> tzinfo:
    """An IANA name ('Asia/Shanghai') or a UTC offset ('+08:00', '-0530', '+8');
    ValueError for anything else."""
    found = _OFFSET.match(name.strip())
    if found is None:
        return iana_zone(name)
    sign, hours, minutes = found.group(1), int(found.group(2)), int(found.group(3) or 0)
    if hours > 14 or minutes > 59:
        raise ValueError(f"UTC offset out of range: {name!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if sign == "-" else delta)


def offset_name(hours: float) -> str:
    """CRS's TIMEZONE_OFFSET (hours) as a key time zone: 8 -> '+08:00', -5.5 -> '-05:30'."""
    sign = "-" if hours < 0 else "+"
    minutes = round(abs(hours) * 60)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def day_bounds(now: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC start and end of the key's day holding `now`."""
    local = now.astimezone(zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    following = start.date() + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def week_bounds(now: datetime, zone: tzinfo, reset_day: int | None,
                reset_hour: int | None) -> tuple[datetime, datetime]:
    """The UTC start and end of the key's week holding `now`."""
    day = reset_day or DEFAULT_RESET_DAY
    hour = DEFAULT_RESET_HOUR if reset_hour is None else reset_hour
    local = now.astimezone(zone)
    since = (local.isoweekday() - day) % 7
    if since == 0 and local.hour < hour:
        since = 7
    first = local.date() - timedelta(days=since)
    following = first + timedelta(days=7)
    start = datetime(first.year, first.month, first.day, hour, tzinfo=zone)
    end = datetime(following.year, following.month, following.day, hour, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def model_matches(model_id: str, pattern: str | None) -> bool:
    """Does a glob of models (`claude-*`) name this catalogue id? It may match the whole id
    ('claude/claude-opus-4-1') or its name after the provider ('claude-opus-4-1'); no glob
    names every model."""
    if not pattern:
        return True
    return fnmatchcase(model_id, pattern) or fnmatchcase(model_id.rsplit("/", 1)[-1], pattern)

"""Report queries: what may be asked, checked once, and turned into a plan over the rollups.

Reports are exact sums of hourly UTC rollups, so every boundary they draw must be a whole UTC
hour: startDate, endDate, and each bucket boundary in the chosen time zone. Zones whose offset is
whole hours (UTC, Europe/*, America/*, Asia/Tokyo, ...) are therefore exact for every granularity;
a zone with a 30- or 45-minute offset (Asia/Kolkata, Asia/Kathmandu, ...) cannot be cut from
hourly rollups and is refused with 422 rather than answered approximately.

Where every bucket starts at a UTC midnight (day or month buckets in UTC, or in any zone at offset
zero over the range), whole days are read from the daily rollups, 24 times fewer rows; the hours
at the edges and every bucket of other zones come from the hourly ones, just as exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app import timebuckets
from app.db.models.usage_stats import ROLLUP_GRAINS
from app.errors import InvalidInput

GRANULARITIES = timebuckets.UNITS
GROUP_COLUMNS = {"model": "model", "account": "account_id", "apikey": "api_key_id"}
COST_GROUPS = ("day", "model", "account")
MAX_RANGE = {"hour": timedelta(days=31), "day": timedelta(days=366),
             "month": timedelta(days=3660)}
NO_ACCOUNT = "(none)"
_UNALIGNED = ("This zone's buckets do not start on whole UTC hours in this range; hourly rollups "
              "cannot split them exactly.")


@dataclass(frozen=True)
class StatsQuery:
    """getUsageStats: startDate inclusive, endDate exclusive, both aware."""

    start_date: datetime
    end_date: datetime
    granularity: str = "day"
    group_by: str | None = None
    timezone: str = "UTC"
    api_key_id: str | None = None
    account_id: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class CostQuery:
    """getCostAnalysis: trends are daily in `timezone`; `top` is the length of topModels."""

    start_date: datetime
    end_date: datetime
    group_by: str = "model"
    timezone: str = "UTC"
    api_key_id: str | None = None
    top: int = 10


@dataclass(frozen=True)
class Plan:
    start: datetime
    end: datetime
    unit: str
    tz_name: str
    tz: ZoneInfo
    buckets: list[datetime]
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def daily_buckets(self) -> bool:
        """Whether every bucket starts at a UTC midnight, so whole UTC days fit inside them."""
        return self.unit != "hour" and all(b.hour == 0 for b in self.buckets)

    def grain(self, *dimensions: str | None) -> str:
        """The smallest rollup grain that keeps every filtered and asked-for dimension."""
        wanted = set(self.filters) | {d for d in dimensions if d}
        return next(grain for grain, kept in ROLLUP_GRAINS.items() if wanted <= set(kept))


def segments(start: datetime, end: datetime, *,
             days: bool) -> list[tuple[str, datetime, datetime]]:
    """[start, end) as (span, start, end) pieces: whole UTC days from the daily rollups when
    `days` allows it, the hours at either edge (or everything) from the hourly ones."""
    floor = timebuckets.bucket_start(start, "day", UTC)
    first_day = floor if floor == start else floor + timedelta(days=1)
    last_day = timebuckets.bucket_start(end, "day", UTC)
    if not days or first_day >= last_day:
        return [("hour", start, end)]
    pieces = [("hour", start, first_day)] if start < first_day else []
    pieces.append(("day", first_day, last_day))
    if last_day < end:
        pieces.append(("hour", last_day, end))
    return pieces


def _fail(errors: dict[str, list[str]]) -> None:
    if errors:
        raise InvalidInput("The query did not validate.", details=errors)


def plan(*, start: datetime, end: datetime, unit: str, tz_name: str, filters: dict,
         extra_errors: dict | None = None) -> Plan:
    """Check a report's range, unit and zone; the buckets it spans, or InvalidInput (422)."""
    errors: dict[str, list[str]] = dict(extra_errors or {})
    if unit not in GRANULARITIES:
        errors["granularity"] = [f"Must be one of: {', '.join(GRANULARITIES)}."]
    try:
        tz = timebuckets.zone(tz_name)
    except ValueError:
        errors["timezone"] = ["Unknown time zone; use an IANA name such as Europe/Paris."]
    for name, value in (("startDate", start), ("endDate", end)):
        if value.tzinfo is None:
            errors[name] = ["Must carry a UTC offset."]
        elif not timebuckets.is_whole_utc_hour(value):
            errors[name] = ["Must fall on a whole UTC hour: reports are built from hourly "
                            "rollups."]
    _fail(errors)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        errors["endDate"] = ["Must be after startDate."]
    elif end - start > MAX_RANGE[unit]:
        errors["endDate"] = [f"The range may span at most {MAX_RANGE[unit].days} days with "
                             f"granularity '{unit}'."]
    _fail(errors)
    buckets = timebuckets.bucket_starts(start, end, unit, tz)
    if not all(timebuckets.is_whole_utc_hour(b) for b in buckets):
        errors["timezone"] = [_UNALIGNED]
    _fail(errors)
    clean = {name: value for name, value in filters.items() if value is not None}
    return Plan(start, end, unit, tz_name, tz, buckets, clean)


def plan_stats(query: StatsQuery) -> tuple[Plan, str | None]:
    """The plan of a getUsageStats query, and the rollup column it groups by (or None)."""
    errors = {}
    if query.group_by is not None and query.group_by not in GROUP_COLUMNS:
        errors["groupBy"] = [f"Must be one of: {', '.join(GROUP_COLUMNS)}."]
    account = "" if query.account_id == NO_ACCOUNT else query.account_id
    filters = {"api_key_id": query.api_key_id, "account_id": account, "model": query.model}
    found = plan(start=query.start_date, end=query.end_date, unit=query.granularity,
                 tz_name=query.timezone, filters=filters, extra_errors=errors)
    return found, GROUP_COLUMNS[query.group_by] if query.group_by is not None else None


def plan_cost(query: CostQuery) -> tuple[Plan, datetime]:
    """The plan of a getCostAnalysis query, and the start of the trend bucket before it."""
    errors = {}
    if query.group_by not in COST_GROUPS:
        errors["groupBy"] = [f"Must be one of: {', '.join(COST_GROUPS)}."]
    if not 1 <= query.top <= 100:
        errors["top"] = ["Must be between 1 and 100."]
    found = plan(start=query.start_date, end=query.end_date, unit="day",
                 tz_name=query.timezone, filters={"api_key_id": query.api_key_id},
                 extra_errors=errors)
    # The bucket before the range is summed too, for the first trend's change.
    previous = timebuckets.previous_start(found.buckets[0], found.unit, found.tz)
    if not timebuckets.is_whole_utc_hour(previous):
        _fail({"timezone": [_UNALIGNED]})
    return found, previous

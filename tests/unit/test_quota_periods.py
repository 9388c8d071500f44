"""Quota periods start at midnight in the configured time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.cache.keys import period_stamp
from app.services.quota.periods import period_bounds

UTC_ZONE = ZoneInfo("UTC")


def test_a_day_runs_from_midnight_to_midnight_utc():
    start, end = period_bounds("day", datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC), UTC_ZONE)
    assert (start, end) == (datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))


def test_a_day_in_tokyo_starts_at_fifteen_hundred_utc_the_day_before():
    start, end = period_bounds("day", datetime(2026, 3, 10, 16, 0, tzinfo=UTC),
                               ZoneInfo("Asia/Tokyo"))
    assert start == datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 11, 15, 0, tzinfo=UTC)


def test_the_day_clocks_go_forward_in_paris_lasts_twenty_three_hours():
    start, end = period_bounds("day", datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
                               ZoneInfo("Europe/Paris"))
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=23)


def test_a_month_ends_at_the_first_of_the_next_month_even_across_a_year():
    start, end = period_bounds("month", datetime(2026, 12, 31, 23, 0, tzinfo=UTC), UTC_ZONE)
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_the_last_second_and_the_first_second_of_a_day_fall_in_different_periods():
    before = period_bounds("day", datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC), UTC_ZONE)[0]
    after = period_bounds("day", datetime(2026, 5, 2, 0, 0, 0, tzinfo=UTC), UTC_ZONE)[0]
    assert period_stamp(before) != period_stamp(after)


def test_an_unknown_period_is_an_error():
    with pytest.raises(ValueError):
        period_bounds("week", datetime(2026, 5, 1, tzinfo=UTC), UTC_ZONE)

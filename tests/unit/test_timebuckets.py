"""Calendar buckets in IANA time zones, as UTC instants."""

from datetime import UTC, datetime, timedelta

import pytest

from app import timebuckets

NEW_YORK = timebuckets.zone("America/New_York")
TOKYO = timebuckets.zone("Asia/Tokyo")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_tokyo_day_starts_at_fifteen_hundred_utc_the_day_before():
    start = timebuckets.bucket_start
    assert start(utc(2025, 10, 30, 15, 30), "day", TOKYO) == utc(2025, 10, 30, 15)
    assert start(utc(2025, 10, 30, 14, 30), "day", TOKYO) == utc(2025, 10, 29, 15)


def test_new_york_days_are_twenty_five_hours_long_when_daylight_saving_ends():
    starts = timebuckets.bucket_starts(utc(2025, 11, 1, 4), utc(2025, 11, 4, 5), "day", NEW_YORK)
    assert starts == [utc(2025, 11, 1, 4), utc(2025, 11, 2, 4), utc(2025, 11, 3, 5)]
    assert starts[2] - starts[1] == timedelta(hours=25)


def test_months_follow_the_local_calendar():
    starts = timebuckets.bucket_starts(utc(2025, 12, 15), utc(2026, 2, 2), "month", TOKYO)
    assert starts == [utc(2025, 11, 30, 15), utc(2025, 12, 31, 15), utc(2026, 1, 31, 15)]


def test_hour_buckets_cover_a_partial_first_hour():
    starts = timebuckets.bucket_starts(utc(2025, 1, 1, 10, 30), utc(2025, 1, 1, 12), "hour", UTC)
    assert starts == [utc(2025, 1, 1, 10), utc(2025, 1, 1, 11)]


def test_the_bucket_before_a_day_is_the_previous_local_day():
    assert timebuckets.previous_start(utc(2025, 11, 3, 5), "day", NEW_YORK) == utc(2025, 11, 2, 4)


def test_a_kolkata_day_does_not_start_on_a_whole_utc_hour():
    start = timebuckets.bucket_start(utc(2025, 1, 1, 12), "day", timebuckets.zone("Asia/Kolkata"))
    assert start == utc(2024, 12, 31, 18, 30)
    assert not timebuckets.is_whole_utc_hour(start)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "UTC+5"])
def test_unknown_zone_names_are_refused(name):
    with pytest.raises(ValueError):
        timebuckets.zone(name)

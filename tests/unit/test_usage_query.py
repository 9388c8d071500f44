"""Report queries are checked before any database work: every refusal names its field."""

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidInput
from app.services.usage.query import CostQuery, StatsQuery, plan_cost, plan_stats, segments

START = datetime(2025, 10, 1, tzinfo=UTC)


def refused(query) -> dict:
    planner = plan_cost if isinstance(query, CostQuery) else plan_stats
    with pytest.raises(InvalidInput) as caught:
        planner(query)
    return caught.value.details


def test_an_end_before_the_start_is_refused_on_end_date():
    details = refused(StatsQuery(START, START - timedelta(days=1)))
    assert list(details) == ["endDate"]


def test_granularity_week_is_refused():
    assert "granularity" in refused(StatsQuery(START, START + timedelta(days=7), "week"))


def test_a_range_over_the_maximum_for_the_granularity_is_refused():
    assert "31 days" in refused(StatsQuery(START, START + timedelta(days=32), "hour"))["endDate"][0]
    plan, _ = plan_stats(StatsQuery(START, START + timedelta(days=31), "hour"))
    assert len(plan.buckets) == 31 * 24


def test_an_unknown_time_zone_is_refused():
    assert "timezone" in refused(StatsQuery(START, START + timedelta(days=1), timezone="Mars/X"))


def test_a_zone_with_a_half_hour_offset_is_refused_rather_than_approximated():
    details = refused(StatsQuery(START, START + timedelta(days=2), timezone="Asia/Kolkata"))
    assert "whole UTC hours" in details["timezone"][0]


def test_a_start_inside_an_hour_is_refused():
    assert "startDate" in refused(StatsQuery(START + timedelta(minutes=30), START + timedelta(1)))


def test_a_naive_date_is_refused():
    assert "startDate" in refused(StatsQuery(START.replace(tzinfo=None), START + timedelta(1)))


def test_an_unknown_grouping_is_refused():
    assert "groupBy" in refused(StatsQuery(START, START + timedelta(1), group_by="colour"))
    assert "groupBy" in refused(CostQuery(START, START + timedelta(1), group_by="apikey"))


@pytest.mark.parametrize(("query", "grain"), [
    (StatsQuery(START, START + timedelta(1)), "m"),
    (StatsQuery(START, START + timedelta(1), group_by="model"), "m"),
    (StatsQuery(START, START + timedelta(1), group_by="account"), "a"),
    (StatsQuery(START, START + timedelta(1), api_key_id="k"), "k"),
    (StatsQuery(START, START + timedelta(1), api_key_id="k", group_by="model"), "kma"),
    (StatsQuery(START, START + timedelta(1), model="m", group_by="account"), "kma"),
])
def test_the_smallest_grain_holding_the_asked_dimensions_is_chosen(query, grain):
    plan, group = plan_stats(query)
    assert plan.grain(group) == grain


def test_a_range_of_whole_utc_days_reads_daily_rollups_only():
    end = START + timedelta(days=3)
    assert segments(START, end, days=True) == [("day", START, end)]


def test_partial_edge_days_are_read_from_hourly_rollups():
    start, end = START + timedelta(hours=22), START + timedelta(days=3, hours=5)
    assert segments(start, end, days=True) == [
        ("hour", start, START + timedelta(days=1)),
        ("day", START + timedelta(days=1), START + timedelta(days=3)),
        ("hour", START + timedelta(days=3), end),
    ]
    assert segments(start, START + timedelta(days=1, hours=3), days=True) == [
        ("hour", start, START + timedelta(days=1, hours=3))]
    assert segments(start, end, days=False) == [("hour", start, end)]


def test_only_buckets_that_start_at_utc_midnight_use_daily_rollups():
    def daily(start=START, **fields):
        return plan_stats(StatsQuery(start, start + timedelta(days=2), **fields))[0].daily_buckets
    assert daily(granularity="day")
    assert daily(datetime(2025, 12, 1, tzinfo=UTC), granularity="day", timezone="Europe/London")
    assert not daily(granularity="day", timezone="Europe/London")  # summer time: 23:00 UTC
    assert not daily(granularity="day", timezone="Asia/Tokyo")
    assert not daily(granularity="hour")

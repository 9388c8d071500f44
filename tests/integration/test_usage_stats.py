"""getUsageStats on both backends: every total is the sum of the events it came from."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.services.usage import UsageRecord
from app.services.usage_query import StatsQuery
from tests.support.usage import (
    MEMBERS,
    bucket_key,
    expected_stats,
    numbers,
    random_records,
    totals,
)

# Four days across the end of daylight saving time in New York (2 November 2025).
START = datetime(2025, 10, 31, tzinfo=UTC)
END = START + timedelta(days=4)
ZERO = {"requests": 0, "inputTokens": 0, "outputTokens": 0, "cacheWriteTokens": 0,
        "cacheReadTokens": 0, "totalTokens": 0, "cost": Decimal(0)}


@pytest.fixture
def world(services):
    key_ids = [services.keys.create({"name": f"k{i}"}).id for i in range(3)]
    # A few hours either side of the range, so that its edges are really tested.
    records = random_records(key_ids, START - timedelta(hours=3), 4 * 24 + 6, 90)
    for record in records:
        assert services.usage.record(record)
    return key_ids, records


def check(answer: dict, expected: dict, unit: str, tz_name: str, group_by, label: str) -> None:
    tz = ZoneInfo(tz_name)
    members = MEMBERS.get(group_by)
    seen = {}
    for row in answer["stats"]:
        name = bucket_key(row["date"], unit, tz)
        assert name not in seen, f"{label}: bucket {name} appears twice"
        seen[name] = row
        want, groups = expected.get(name, (ZERO, {}))
        assert numbers(row) == want, f"{label}: bucket {name}"
        if members:
            assert {g: numbers(t) for g, t in row[members].items()} == groups, f"{label}: {name}"
    assert set(expected) <= set(seen), f"{label}: buckets missing"
    everything = [want for want, _ in expected.values()]
    summary = answer["summary"]
    assert summary["totalRequests"] == sum(t["requests"] for t in everything), label
    assert summary["totalTokens"] == sum(t["totalTokens"] for t in everything), label
    assert summary["totalCost"] == sum((t["cost"] for t in everything), Decimal(0)), label


def test_totals_equal_the_sum_of_their_events_for_every_granularity_grouping_and_zone(
        services, world):
    for tz_name in ("UTC", "Asia/Tokyo", "America/New_York"):
        for unit in ("hour", "day", "month"):
            for group_by in (None, "model", "account", "apikey"):
                answer = services.usage.stats(StatsQuery(
                    START, END, unit, group_by=group_by, timezone=tz_name))
                expected = expected_stats(world[1], start=START, end=END, unit=unit,
                                          tz_name=tz_name, group_by=group_by)
                check(answer, expected, unit, tz_name, group_by, f"{tz_name}/{unit}/{group_by}")


def test_filters_select_exactly_their_events(services, world):
    key_ids, records = world
    cases = [
        ({"api_key_id": key_ids[0]}, "model"),
        ({"model": "claude-b"}, "account"),
        ({"account_id": "acc-2"}, "apikey"),
        ({"api_key_id": key_ids[1], "model": "gpt-c", "account_id": "acc-1"}, None),
    ]
    for filters, group_by in cases:
        answer = services.usage.stats(StatsQuery(START, END, "day", group_by=group_by,
                                                 timezone="Europe/Paris", **filters))
        expected = expected_stats(records, start=START, end=END, unit="day",
                                  tz_name="Europe/Paris", group_by=group_by, **filters)
        check(answer, expected, "day", "Europe/Paris", group_by, str(filters))


def test_usage_without_an_account_is_selected_as_none(services, world):
    answer = services.usage.stats(StatsQuery(START, END, "month", account_id="(none)"))
    expected = expected_stats(world[1], start=START, end=END, unit="month", tz_name="UTC",
                              account_id=None)
    check(answer, expected, "month", "UTC", None, "no account")


def test_a_tokyo_day_boundary_splits_events_that_utc_keeps_together(services):
    key = services.keys.create({"name": "tokyo"}).id
    for minute, hour in ((30, 14), (30, 15)):  # 23:30 and 00:30 in Tokyo
        services.usage.record(UsageRecord(key, "claude-a", input_tokens=10, cost=Decimal("0.5"),
                                          timestamp=datetime(2025, 10, 30, hour, minute,
                                                             tzinfo=UTC)))
    start, end = datetime(2025, 10, 29, 15, tzinfo=UTC), datetime(2025, 10, 31, 15, tzinfo=UTC)
    tokyo = services.usage.stats(StatsQuery(start, end, "day", timezone="Asia/Tokyo"))["stats"]
    assert [(row["date"].isoformat(), row["requests"]) for row in tokyo] == [
        ("2025-10-30T00:00:00+09:00", 1), ("2025-10-31T00:00:00+09:00", 1)]
    utc = services.usage.stats(StatsQuery(start, end, "day"))["stats"]
    assert [(row["date"].isoformat(), row["requests"]) for row in utc] == [
        ("2025-10-29T00:00:00+00:00", 0), ("2025-10-30T00:00:00+00:00", 2),
        ("2025-10-31T00:00:00+00:00", 0)]


def test_empty_buckets_appear_with_zeros(services):
    answer = services.usage.stats(StatsQuery(START, START + timedelta(hours=5), "hour",
                                             group_by="model"))
    assert len(answer["stats"]) == 5
    assert all(numbers(row) == ZERO and row["models"] == {} for row in answer["stats"])
    assert answer["summary"]["averageCostPerToken"] == 0


def test_average_cost_per_token_is_total_cost_over_total_tokens(services, world):
    summary = services.usage.stats(StatsQuery(START, END, "month"))["summary"]
    expected = summary["totalCost"] / summary["totalTokens"]
    assert summary["averageCostPerToken"] == expected.quantize(Decimal("1E-12"))


def test_the_whole_range_sums_like_the_events(services, world):
    # One bucket per month over everything recorded, edges included.
    first, last = START - timedelta(hours=3), END + timedelta(hours=3)
    answer = services.usage.stats(StatsQuery(first, last, "month"))["summary"]
    assert answer["totalCost"] == totals(world[1])["cost"]
    assert answer["totalRequests"] == totals(world[1])["requests"]

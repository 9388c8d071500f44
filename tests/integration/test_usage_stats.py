"""getUsageStats on both backends: every total is the sum of the events it came from."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.services.usage.query import StatsQuery
from app.services.usage.service import UsageRecord
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
ZERO = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 0,
        "cache_read_tokens": 0, "total_tokens": 0, "cost": Decimal(0)}


@pytest.fixture
def world(services):
    key_ids = [services.keys.create({"name": f"k{i}"}).id for i in range(3)]
    # A few hours either side of the range, so that its edges are really tested.
    records = random_records(key_ids, START - timedelta(hours=3), 4 * 24 + 6, 60)
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
    assert summary["total_requests"] == sum(t["requests"] for t in everything), label
    assert summary["total_tokens"] == sum(t["total_tokens"] for t in everything), label
    assert summary["total_cost"] == sum((t["cost"] for t in everything), Decimal(0)), label


def test_totals_equal_the_sum_of_their_events_for_every_granularity_grouping_and_zone(
        services, world):
    # Whole UTC days (read from daily rollups in UTC), and ranges with partial edge days.
    ranges = [(START, END), (START + timedelta(hours=5), END - timedelta(hours=7))]
    for start, end in ranges:
        for tz_name in ("UTC", "Asia/Tokyo", "America/New_York"):
            for unit in ("hour", "day", "month"):
                for group_by in (None, "model", "account", "apikey"):
                    label = f"{start:%dT%H}/{tz_name}/{unit}/{group_by}"
                    answer = services.usage.stats(StatsQuery(
                        start, end, unit, group_by=group_by, timezone=tz_name))
                    expected = expected_stats(world[1], start=start, end=end, unit=unit,
                                              tz_name=tz_name, group_by=group_by)
                    check(answer, expected, unit, tz_name, group_by, label)
    summary = services.usage.stats(StatsQuery(START, END, "month"))["summary"]
    expected = summary["total_cost"] / summary["total_tokens"]
    assert summary["average_cost_per_token"] == expected.quantize(Decimal("1E-12"))
    # Everything recorded, edges included, in one bucket per month.
    first, last = START - timedelta(hours=3), END + timedelta(hours=3)
    summary = services.usage.stats(StatsQuery(first, last, "month"))["summary"]
    assert summary["total_cost"] == totals(world[1])["cost"]
    assert summary["total_requests"] == totals(world[1])["requests"]


def test_filters_select_exactly_their_events(services, world):
    key_ids, records = world
    cases = [
        ({"api_key_id": key_ids[0]}, "model"),
        ({"model": "claude-b"}, "account"),
        ({"account_id": "acc-2"}, "apikey"),
        ({"api_key_id": key_ids[1], "model": "gpt-c", "account_id": "acc-1"}, None),
        ({"account_id": None}, "model"),
    ]
    for filters, group_by in cases:
        # Usage recorded without an account is asked for as "(none)".
        asked = {k: "(none)" if v is None else v for k, v in filters.items()}
        answer = services.usage.stats(StatsQuery(START, END, "day", group_by=group_by,
                                                 timezone="Europe/Paris", **asked))
        expected = expected_stats(records, start=START, end=END, unit="day",
                                  tz_name="Europe/Paris", group_by=group_by, **filters)
        check(answer, expected, "day", "Europe/Paris", group_by, str(filters))


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
    assert answer["summary"]["average_cost_per_token"] == 0


def test_records_stored_in_batches_give_the_totals_of_their_events(services):
    key_ids = [services.keys.create({"name": f"b{i}"}).id for i in range(3)]
    records = random_records(key_ids, START - timedelta(hours=3), 4 * 24 + 6, 60, seed=7)
    stored = services.usage.record_many(records[:35]) + services.usage.record_many(
        records[30:] + records[:2])  # a redelivery: within the batch and of the batch before
    assert stored == [True] * 35 + [False] * 5 + [True] * 25 + [False] * 2
    assert services.usage.record_many([records[40], records[40]]) == [False, False]
    for unit, tz_name in (("hour", "UTC"), ("day", "America/New_York")):
        for group_by in (None, "model", "account", "apikey"):
            answer = services.usage.stats(StatsQuery(START, END, unit, group_by=group_by,
                                                     timezone=tz_name))
            expected = expected_stats(records, start=START, end=END, unit=unit,
                                      tz_name=tz_name, group_by=group_by)
            check(answer, expected, unit, tz_name, group_by, f"{unit}/{tz_name}/{group_by}")
    for key_id in key_ids:
        key, mine = services.keys.get(key_id), [r for r in records if r.api_key_id == key_id]
        assert (key.total_requests, key.total_cost) == (totals(mine)["requests"],
                                                        totals(mine)["cost"])
        assert key.last_used_at == max(r.timestamp for r in mine)

"""cleanupOldStats removes exactly the old raw events; getCostAnalysis adds up."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app import services_of, timebuckets
from app.errors import InvalidInput
from app.services.usage.query import CostQuery, StatsQuery
from app.services.usage.service import UsageRecord
from tests.support.apps import login_headers, make_app
from tests.support.usage import random_records

AGES_IN_DAYS = (200, 120, 95, 91, 91, 89, 30, 10, 0)


def test_cleanup_deletes_exactly_the_events_older_than_the_retention(services):
    key = services.keys.create({"name": "k"}).id
    now = datetime.now(UTC)
    for i, age in enumerate(AGES_IN_DAYS):
        services.usage.record(UsageRecord(key, "m", input_tokens=i + 1, cost=Decimal(i + 1),
                                          request_id=f"r{i}",
                                          timestamp=now - timedelta(days=age, hours=1)))
    first = timebuckets.utc_hour(now - timedelta(days=210))
    last = timebuckets.utc_hour(now) + timedelta(hours=1)
    everything = StatsQuery(first, last, "month", group_by="model")
    before = services.usage.stats(everything)
    services.usage.retention.cleanup_batch = 2  # several batches, as at volume

    assert services.usage.cleanup(90) == {"deleted_records": 5, "remaining_records": 4}

    assert services.usage.stats(everything) == before
    with services.uow() as uow:
        kept = sorted(e.request_id for e in uow.usage_events.list_for_key(key))
        assert kept == ["r5", "r6", "r7", "r8"]
        if uow.usage_events.partitioned:
            cutoff = now - timedelta(days=90)
            oldest = min(month for _, month in uow.usage_events.partitions())
            assert timebuckets.next_start(oldest, "month", UTC) > cutoff
    # Request ids go with their events; the kept ones still refuse a retry.
    assert not services.usage.record(UsageRecord(key, "m", request_id="r8", timestamp=now))
    assert services.usage.record(UsageRecord(key, "m", request_id="r0",
                                             timestamp=now - timedelta(days=200)))
    assert services.usage.cleanup(90) == {"deleted_records": 1, "remaining_records": 4}


def test_cleanup_with_nothing_old_deletes_nothing(services):
    key = services.keys.create({"name": "k"}).id
    services.usage.record(UsageRecord(key, "m", input_tokens=1))
    assert services.usage.cleanup() == {"deleted_records": 0, "remaining_records": 1}


def test_a_month_before_the_year_1000_has_a_four_digit_partition_and_is_cleaned_up(services):
    key = services.keys.create({"name": "k"}).id
    assert services.usage.record(UsageRecord(key, "m", input_tokens=1,
                                             timestamp=datetime(999, 12, 15, tzinfo=UTC)))
    with services.uow() as uow:
        names = [name for name, _ in uow.usage_events.partitions()]
        assert ("usage_events_0999_12" in names) is uow.usage_events.partitioned
    assert services.usage.cleanup(90) == {"deleted_records": 1, "remaining_records": 0}
    with services.uow() as uow:
        assert all(month.year >= 1000 for _, month in uow.usage_events.partitions())


def test_the_configured_retention_is_the_cleanups_default(app_config, tmp_path):
    application = make_app(tmp_path, **app_config, usage_retention_days=5)
    try:
        services = services_of(application)
        key = services.keys.create({"name": "k"}).id
        now = datetime.now(UTC)
        for age in (6, 4):
            services.usage.record(UsageRecord(key, "m", timestamp=now - timedelta(days=age)))
        answer = application.test_client().post("/api/usage/cleanup", json={},
                                                headers=login_headers(application))
        assert answer.status_code == 200, answer.json
        assert answer.json["data"] == {"deletedRecords": 1, "remainingRecords": 1}
    finally:
        services_of(application).engine.dispose()


@pytest.mark.parametrize("days", [0, -5, 36_501])
def test_cleanup_refuses_a_retention_out_of_range(services, days):
    with pytest.raises(InvalidInput) as caught:
        services.usage.cleanup(days)
    assert "retentionDays" in caught.value.details


START = datetime(2025, 10, 31, tzinfo=UTC)
END = START + timedelta(days=3)


@pytest.fixture
def costs(services):
    key_ids = [services.keys.create({"name": f"k{i}"}).id for i in range(2)]
    records = random_records(key_ids, START - timedelta(days=1), 4 * 24, 40, seed=3)
    for record in records:
        services.usage.record(record)
    return key_ids, records


def daily(records, start, days):
    return [sum((r.cost for r in records
                 if start + timedelta(days=d) <= r.timestamp < start + timedelta(days=d + 1)),
                Decimal(0)) for d in range(days)]


def test_cost_analysis_by_model_adds_up_to_the_events_for_all_keys_or_one(services, costs):
    _, records = costs
    inside = [r for r in records if START <= r.timestamp < END]
    answer = services.usage.cost_analysis(CostQuery(START, END, group_by="model", top=2))
    by_model = {}
    for r in inside:
        by_model[r.model] = by_model.get(r.model, Decimal(0)) + r.cost
    assert {row["category"]: row["cost"] for row in answer["cost_breakdown"]} == by_model
    assert sum(row["percentage"] for row in answer["cost_breakdown"]) == 100
    assert [row["cost"] for row in answer["cost_breakdown"]] == sorted(by_model.values(),
                                                                       reverse=True)
    assert [row["model"] for row in answer["top_models"]] == [
        row["category"] for row in answer["cost_breakdown"]][:2]
    assert answer["total_cost"] == sum(by_model.values())
    key_ids = costs[0]
    answer = services.usage.cost_analysis(CostQuery(START, END, api_key_id=key_ids[1]))
    mine = [r for r in records if r.api_key_id == key_ids[1] and START <= r.timestamp < END]
    assert answer["total_cost"] == sum((r.cost for r in mine), Decimal(0))
    assert sum(t["requests"] for t in answer["top_models"]) == sum(r.request_count for r in mine)


def test_cost_trends_change_against_the_day_before_and_accounts_name_none(services, costs):
    _, records = costs
    answer = services.usage.cost_analysis(CostQuery(START, END, group_by="day"))
    days = daily(records, START - timedelta(days=1), 4)
    assert [row["cost"] for row in answer["trends"]] == days[1:]
    assert [row["change"] for row in answer["trends"]] == [
        days[i + 1] - days[i] for i in range(3)]
    assert [row["category"] for row in answer["cost_breakdown"]] == [
        (START + timedelta(days=d)).isoformat() for d in range(3)]
    assert sum(row["percentage"] for row in answer["cost_breakdown"]) == 100
    answer = services.usage.cost_analysis(CostQuery(START, END, group_by="account"))
    expected = {}
    for r in records:
        if START <= r.timestamp < END:
            name = r.account_id or "(none)"
            expected[name] = expected.get(name, Decimal(0)) + r.cost
    assert {row["category"]: row["cost"] for row in answer["cost_breakdown"]} == expected

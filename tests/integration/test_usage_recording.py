"""recordUsage: once per request id, cost from prices when none is given, exact totals."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app import services_of
from app.errors import NotFound
from app.services.catalogue.pricing import ModelPrices, price_table
from app.services.usage.query import StatsQuery
from app.services.usage.service import UsageRecord, UsageService

WHEN = datetime(2025, 10, 30, 12, 15, tzinfo=UTC)
HOUR = WHEN.replace(minute=0)
PRICES = price_table({"claude-a": ModelPrices(input=Decimal("3"), output=Decimal("15"),
                                              cache_write=Decimal("3.75"),
                                              cache_read=Decimal("0.3"))})


def day_summary(services, **filters) -> dict:
    return services.usage.stats(StatsQuery(HOUR, HOUR + timedelta(hours=1), "hour",
                                           **filters))["summary"]


def event_count(services) -> int:
    with services.uow() as uow:
        return uow.usage_events.count()


def test_recording_the_same_request_id_twice_counts_once(services):
    key = services.keys.create({"name": "k"}).id
    record = UsageRecord(key, "claude-a", input_tokens=100, output_tokens=50,
                         cost=Decimal("0.25"), request_id="req-1", timestamp=WHEN)
    assert services.usage.record(record) is True
    assert services.usage.record(record) is False
    assert services.usage.record(UsageRecord(key, "claude-a", input_tokens=999,
                                             request_id="req-1", timestamp=WHEN)) is False
    assert event_count(services) == 1
    summary = day_summary(services)
    assert (summary["total_requests"], summary["total_tokens"], summary["total_cost"]) == (
        1, 150, Decimal("0.25"))
    stored = services.keys.get(key)
    assert (stored.total_requests, stored.total_tokens, stored.total_cost) == (
        1, 150, Decimal("0.25"))


def test_records_without_a_request_id_are_all_counted(services):
    key = services.keys.create({"name": "k"}).id
    for _ in range(3):
        assert services.usage.record(UsageRecord(key, "m", input_tokens=1, timestamp=WHEN))
    assert day_summary(services)["total_requests"] == 3


def test_concurrent_retries_of_one_request_count_once(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "k"}).id
    barrier, answers = threading.Barrier(6), []

    def retry():
        barrier.wait()
        answers.append(services.usage.record(UsageRecord(
            key, "claude-a", input_tokens=10, cost=Decimal("0.1"), request_id="same",
            timestamp=WHEN)))

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 5 + [True]
    assert event_count(services) == 1
    assert day_summary(services)["total_cost"] == Decimal("0.1")
    assert services.keys.get(key).total_cost == Decimal("0.1")


def test_cost_is_computed_from_the_model_prices_when_none_is_given(services):
    usage = UsageService(uow=services.uow, pricing=PRICES)
    key = services.keys.create({"name": "k"}).id
    usage.record(UsageRecord(key, "claude-a", input_tokens=1234, output_tokens=567,
                             cache_write_tokens=89, cache_read_tokens=10, timestamp=WHEN))
    summary = day_summary(services)
    assert summary["total_cost"] == Decimal("0.01254375")
    assert summary["total_tokens"] == 1234 + 567 + 89 + 10
    assert services.keys.get(key).total_cost == Decimal("0.01254375")


def test_a_given_cost_wins_over_the_prices(services):
    usage = UsageService(uow=services.uow, pricing=PRICES)
    key = services.keys.create({"name": "k"}).id
    usage.record(UsageRecord(key, "claude-a", input_tokens=1_000_000, cost=Decimal("1.5"),
                             timestamp=WHEN))
    assert day_summary(services)["total_cost"] == Decimal("1.5")


def test_a_model_without_prices_and_without_cost_is_recorded_at_zero_cost(services, caplog):
    usage = UsageService(uow=services.uow, pricing=PRICES)
    key = services.keys.create({"name": "k"}).id
    assert usage.record(UsageRecord(key, "unknown-model", input_tokens=5, timestamp=WHEN))
    assert day_summary(services)["total_cost"] == 0
    assert "no price for model 'unknown-model'" in caplog.text


def test_a_given_total_tokens_is_kept(services):
    key = services.keys.create({"name": "k"}).id
    services.usage.record(UsageRecord(key, "m", input_tokens=5, output_tokens=5,
                                      total_tokens=42, timestamp=WHEN))
    assert day_summary(services)["total_tokens"] == 42
    assert services.keys.get(key).total_tokens == 42


def test_money_keeps_eight_places_exactly(services):
    key = services.keys.create({"name": "k"}).id
    for cost in ("0.00000001", "0.10000000", "12345.67890123"):
        services.usage.record(UsageRecord(key, "m", cost=Decimal(cost), timestamp=WHEN))
    assert day_summary(services)["total_cost"] == Decimal("12345.77890124")


def test_recording_for_an_unknown_key_changes_nothing(services):
    with pytest.raises(NotFound):
        services.usage.record(UsageRecord("no-such-key", "m", input_tokens=5,
                                          request_id="lost", timestamp=WHEN))
    assert event_count(services) == 0
    assert day_summary(services)["total_requests"] == 0
    key = services.keys.create({"name": "k"}).id
    # The request id was not kept by the failed attempt.
    assert services.usage.record(UsageRecord(key, "m", request_id="lost", timestamp=WHEN))


def test_events_months_apart_land_in_their_own_months(services):
    key = services.keys.create({"name": "k"}).id
    moments = [datetime(2024, 12, 31, 23, 59, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC),
               datetime(2025, 3, 15, 8, tzinfo=UTC)]
    for moment in moments:
        services.usage.record(UsageRecord(key, "m", cost=Decimal(1), timestamp=moment))
    answer = services.usage.stats(StatsQuery(datetime(2024, 12, 1, tzinfo=UTC),
                                             datetime(2025, 4, 1, tzinfo=UTC), "month"))
    assert [row["requests"] for row in answer["stats"]] == [1, 1, 0, 1]
    with services.uow() as uow:
        if uow.usage_events.partitioned:
            months = {name for name, _ in uow.usage_events.partitions()}
            assert {"usage_events_2024_12", "usage_events_2025_01",
                    "usage_events_2025_03"} <= months

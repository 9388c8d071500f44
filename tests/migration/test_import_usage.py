"""Imported usage: the source's aggregates become a baseline Relaygate's own reports sum."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis

from app.services.usage.query import CostQuery, StatsQuery
from app.services.usage.service import UsageRecord

from .crs_fixture import build_crs_store
from .importing import run_import


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def imported(app, crs_redis, crs_store):
    report = run_import(app, crs_redis, crs_store.encryption_key, phases=("keys", "usage"))
    assert report.ok, "\n".join(report.lines())
    return report


def _stats(services, key_id, start, end, unit, **kwargs) -> dict:
    return services.usage.stats(StatsQuery(start, end, unit, api_key_id=key_id, **kwargs))


def test_per_key_totals_match_the_source_through_the_stats_service(services, crs_store,
                                                                  imported):
    checked = {check.key_id: check for check in imported.totals}

    assert set(checked) == set(crs_store.totals)
    for key_id, expected in crs_store.totals.items():
        summary = _stats(services, key_id, _utc(2026, 10, 1), _utc(2026, 12, 1), "month")[
            "summary"]
        assert (summary["total_requests"], summary["total_tokens"], summary["total_cost"]) == (
            expected.requests, expected.all_tokens, expected.cost)
        assert checked[key_id].ok


def test_buckets_land_on_their_utc_hours(services, crs_store, imported):
    team = crs_store.key_ids["team"]
    hours = _stats(services, team, _utc(2026, 11, 22, 15), _utc(2026, 11, 22, 23), "hour")

    requests = {row["date"].hour: row["requests"] for row in hours["stats"] if row["requests"]}
    assert requests == {15: 1, 21: 2}


def test_a_day_in_the_sources_zone_holds_exactly_its_local_requests(services, crs_store,
                                                                    imported):
    team = crs_store.key_ids["team"]
    days = _stats(services, team, _utc(2026, 11, 20, 16), _utc(2026, 11, 23, 16), "day",
                  timezone="Asia/Shanghai")["stats"]

    assert [(row["date"].day, row["requests"]) for row in days] == [(21, 1), (22, 1), (23, 2)]


def test_model_names_with_colons_survive_into_the_reports(services, crs_store, imported):
    team = crs_store.key_ids["team"]
    answer = _stats(services, team, _utc(2026, 11, 1), _utc(2026, 12, 1), "month",
                    group_by="model")
    costs = services.usage.cost_analysis(CostQuery(_utc(2026, 11, 20), _utc(2026, 11, 24),
                                                   api_key_id=team))

    models = answer["stats"][0]["models"]
    assert set(models) == {"claude-sonnet-4:20250514", "us.anthropic.claude-3-5-sonnet:v1"}
    assert models["claude-sonnet-4:20250514"]["requests"] == 3
    assert costs["total_cost"] == Decimal("1.875")
    assert costs["top_models"][0] == {"model": "claude-sonnet-4:20250514",
                                     "cost": Decimal("1.625"), "requests": 3}


def test_the_keys_running_totals_carry_the_source_history(services, crs_store, imported):
    team_id = crs_store.key_ids["team"]
    expected = crs_store.totals[team_id]
    with services.uow() as uow:
        team = uow.api_keys.get(team_id)
        today_cost = uow.usage_baselines.cost_since(team_id, _utc(2026, 11, 22, 21))

    assert (team.total_requests, team.total_tokens, team.total_cost) == (
        expected.requests, expected.all_tokens, expected.cost)
    assert today_cost == Decimal("1.125")


def test_events_recorded_later_add_to_the_baseline(services, crs_store, imported):
    team = crs_store.key_ids["team"]
    services.usage.record(UsageRecord(api_key_id=team, model="claude-sonnet-4:20250514",
                                      input_tokens=10, output_tokens=5, cost=Decimal("0.5"),
                                      timestamp=_utc(2026, 11, 22, 21, 30)))

    summary = _stats(services, team, _utc(2026, 11, 1), _utc(2026, 12, 1), "month")["summary"]
    hour = _stats(services, team, _utc(2026, 11, 22, 21), _utc(2026, 11, 22, 22), "hour",
                  group_by="model")["stats"][0]
    assert summary["total_requests"] == crs_store.totals[team].requests + 1
    assert summary["total_cost"] == crs_store.totals[team].cost + Decimal("0.5")
    assert hour["models"]["claude-sonnet-4:20250514"]["requests"] == 3


def test_a_second_run_leaves_the_usage_as_it_was(app, services, crs_redis, crs_store, imported):
    again = run_import(app, crs_redis, crs_store.encryption_key, phases=("keys", "usage"))
    team = crs_store.key_ids["team"]

    assert [phase.changed for phase in again.phases] == [0, 0] and again.ok
    with services.uow() as uow:
        assert uow.api_keys.get(team).total_requests == crs_store.totals[team].requests


def test_more_usage_in_the_source_moves_the_totals_by_the_difference(app, services,
                                                                    crs_redis_port):
    own = redis.Redis(port=crs_redis_port, db=12, decode_responses=True)
    own.flushdb()
    try:
        store = build_crs_store(own)
        run_import(app, own, store.encryption_key, phases=("keys", "usage"))
        team = store.key_ids["team"]
        own.hincrby(f"usage:{team}", "totalRequests", 4)
        own.hincrby(f"usage:{team}", "totalAllTokens", 400)
        own.incrbyfloat(f"usage:cost:total:{team}", 2.5)
        again = run_import(app, own, store.encryption_key, phases=("keys", "usage"))
    finally:
        own.flushdb()
        own.close()

    assert again.phases[1].counts["updated"] == 1 and again.ok
    with services.uow() as uow:
        row = uow.api_keys.get(team)
    expected = store.totals[team]
    assert (row.total_requests, row.total_tokens, row.total_cost) == (
        expected.requests + 4, expected.all_tokens + 400, expected.cost + Decimal("2.5"))


def test_usage_of_a_key_that_was_not_imported_is_skipped(app, services, crs_redis, crs_store):
    report = run_import(app, crs_redis, crs_store.encryption_key, phases=("usage",))

    usage = report.phases[0]
    assert usage.counts["skipped"] == len(crs_store.totals) and report.ok
    assert any("was not imported" in note for note in usage.notes)


def test_rebuilding_the_rollups_keeps_the_imported_baseline(services, crs_store, imported):
    team = crs_store.key_ids["team"]
    services.usage.rebuild_rollups(_utc(2026, 11, 20), _utc(2026, 11, 24))

    summary = _stats(services, team, _utc(2026, 11, 1), _utc(2026, 12, 1), "month")["summary"]
    assert summary["total_requests"] == crs_store.totals[team].requests

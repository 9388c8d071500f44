"""A key's total and weekly cost limits and its time zone, over HTTP on both backends: set and
validated through the keys API, shown with what remains, enforced on chat routes, and kept
across a restart of the app and of Redis (the database is the record)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app import services_of
from app.services.usage.service import UsageRecord
from tests.api.chat_support import BODY, MODEL, add_account, set_quota
from tests.migration.crs_limits import issued_key
from tests.support.apps import login_headers, make_app
from tests.support.quota import Clock

CLAUDE = "claude/claude-sonnet-4-5"


@pytest.fixture
def upstream(client, admin_headers, stub_upstream):
    add_account(client, admin_headers, stub_upstream, "acct-spend")
    add_account(client, admin_headers, stub_upstream, "acct-claude", provider="claude",
                baseUrl=stub_upstream.url)
    set_quota(client, admin_headers, 1000)
    return stub_upstream


def chat(client, api_key: str, model: str = MODEL, route: str = "/api/ai/chat"):
    return client.post(f"{route}?model={model}", json={**BODY, "stream": False},
                       headers={"x-api-key": api_key})


def spend(services, key_id: str, cost: str, *, at: datetime | None = None,
          model: str = MODEL) -> None:
    services.usage.record(UsageRecord(api_key_id=key_id, model=model, cost=Decimal(cost),
                                      output_tokens=10, timestamp=at))


@pytest.mark.parametrize(("field", "value"), [
    ("totalCostLimit", -1), ("weeklyCostLimit", "-0.5"), ("weeklyResetDay", 0),
    ("weeklyResetDay", 8), ("weeklyResetHour", 24), ("timeZone", "Mars/Olympus"),
    ("timeZone", "+25:00"), ("windowLimits", [{"window": 0, "requests": 5}]),
    ("windowLimits", [{"window": 60, "requests": -1}]), ("windowLimits", [{"window": 60}]),
    ("windowLimits", [{"window": 60, "cost": "-1"}]),
])
def test_bad_spend_and_window_limits_are_refused_and_write_nothing(client, admin_headers,
                                                                    make_key, field, value):
    key = make_key(totalCostLimit="5")
    created = client.post("/api/keys", json={"name": "bad", field: value}, headers=admin_headers)
    changed = client.patch(f"/api/keys/{key['id']}", json={field: value}, headers=admin_headers)

    assert created.status_code == changed.status_code == 422, (created.json, changed.json)
    assert field in created.json["error"]["details"]
    after = client.get(f"/api/keys/{key['id']}", headers=admin_headers).json["data"]
    assert after["totalCostLimit"] == Decimal("5") and after["windowLimits"] == []


def test_a_keys_limits_and_what_remains_show_to_the_admin_and_the_holder(
        app, client, admin_headers, make_key):
    key = make_key(totalCostLimit="10", weeklyCostLimit="4", weeklyResetDay=7,
                   weeklyResetHour=9, weeklyCostModels="claude-*", timeZone="+08:00",
                   dailyCostLimit="2",
                   windowLimits=[{"window": 300, "cost": "1.5", "requests": 20}])
    services = services_of(app)
    spend(services, key["id"], "0.75", model=CLAUDE)
    spend(services, key["id"], "0.25")

    admin_view = client.get(f"/api/keys/{key['id']}", headers=admin_headers).json["data"]
    own_view = client.get("/api/keys/me", headers={"x-api-key": key["apiKey"]}).json["data"]

    assert admin_view["limits"] == own_view["limits"]
    assert admin_view["timeZone"] == "+08:00" and admin_view["weeklyResetDay"] == 7
    assert admin_view["windowLimits"] == [{"window": 300, "cost": 1.5, "requests": 20}]
    limits = {row["name"]: row for row in admin_view["limits"]}
    assert (limits["totalCost"]["limit"], limits["totalCost"]["remaining"]) == (10, 9)
    assert (limits["weeklyCost"]["used"], limits["weeklyCost"]["remaining"]) == (
        Decimal("0.75"), Decimal("3.25"))  # only the claude-* models count
    assert limits["weeklyCost"]["models"] == "claude-*"
    reset = datetime.fromisoformat(limits["weeklyCost"]["resetsAt"])
    assert reset.astimezone(UTC).hour == 1 and reset.astimezone(UTC).isoweekday() == 7  # 9:00+8
    assert limits["dailyCost"]["remaining"] == 1
    assert (limits["window:300m:cost"]["used"], limits["window:300m:cost"]["remaining"]) == (
        1, Decimal("0.5"))
    assert limits["window:300m:requests"]["remaining"] == 18


@pytest.mark.parametrize("source", ["api", "crs"])
def test_a_total_cost_cap_refuses_once_recorded_cost_reaches_it_and_survives_a_restart(
        app, client, admin_headers, upstream, source, tmp_path, app_config):
    key = issued_key(app, source, "total_capped")  # totalCostLimit 1.00
    services = services_of(app)
    assert chat(client, key["apiKey"]).status_code == 200
    spend(services, key["id"], "1.00")

    refused = chat(client, key["apiKey"])
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "TOTAL_COST_LIMIT_EXCEEDED"

    restarted = make_app(tmp_path / "again", **app_config)
    try:
        again = chat(restarted.test_client(), key["apiKey"], route="/api/ai/chat-fast")
        assert again.status_code == 429
        assert again.json["error"]["code"] == "TOTAL_COST_LIMIT_EXCEEDED"
    finally:
        services_of(restarted).engine.dispose()


def test_a_total_cost_cap_holds_across_a_restart_of_redis(postgres_url, private_redis,
                                                          stub_upstream, tmp_path):
    app = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:spend:")
    try:
        client, headers = app.test_client(), login_headers(app)
        add_account(client, headers, stub_upstream, "acct-redis")
        set_quota(client, headers, 1000)
        key = client.post("/api/keys", json={"name": "capped", "totalCostLimit": "1"},
                          headers=headers).json["data"]
        assert chat(client, key["apiKey"], route="/api/ai/chat-fast").status_code == 200
        spend(services_of(app), key["id"], "1.00")
        assert chat(client, key["apiKey"], route="/api/ai/chat-fast").status_code == 429

        private_redis.restart()  # everything Redis held is gone
        services_of(app).cache.redis.retry_now()

        refused = chat(client, key["apiKey"], route="/api/ai/chat-fast")
        assert refused.status_code == 429
        assert refused.json["error"]["code"] == "TOTAL_COST_LIMIT_EXCEEDED"
    finally:
        services_of(app).engine.dispose()


@pytest.mark.parametrize("source", ["api", "crs"])
def test_the_weekly_cap_starts_again_at_the_reset_hour_in_the_keys_time_zone(
        app, client, admin_headers, upstream, source):
    # weeklyCostLimit 1.00 on claude-* from Wednesday (3) 09:00 at +08:00: 01:00 UTC.
    key = issued_key(app, source, "weekly_capped")
    services = services_of(app)
    services.usage.clock = Clock(datetime(2026, 12, 2, 0, 30, tzinfo=UTC))  # Wed 08:30 +08
    spend(services, key["id"], "1.00", at=datetime(2026, 11, 30, 12, tzinfo=UTC), model=CLAUDE)

    refused = chat(client, key["apiKey"], model=CLAUDE)
    assert refused.status_code == 429, refused.json
    assert refused.json["error"]["code"] == "WEEKLY_COST_LIMIT_EXCEEDED"
    assert refused.headers["Retry-After"] == "1800"
    assert chat(client, key["apiKey"]).status_code == 200  # not a claude-* model

    services.usage.clock = Clock(datetime(2026, 12, 2, 0, 59, 59, tzinfo=UTC))
    assert chat(client, key["apiKey"], model=CLAUDE).status_code == 429
    services.usage.clock = Clock(datetime(2026, 12, 2, 1, 0, tzinfo=UTC))  # Wed 09:00 +08
    assert chat(client, key["apiKey"], model=CLAUDE).status_code == 200


def daily_limited_key(application, stub_upstream):
    """(client, services, a key whose daily cost limit its first answer passes, its periods)."""
    client, headers = application.test_client(), login_headers(application)
    add_account(client, headers, stub_upstream, "acct-daily")
    set_quota(client, headers, 1000)
    key = client.post("/api/keys", json={"name": "daily", "dailyCostLimit": "0.000001"},
                      headers=headers).json["data"]
    services = services_of(application)
    periods = services.key_limits.periods({"cost_limits": {}}, services.usage.clock())[0]
    return client, services, key, periods


@pytest.mark.parametrize("route", ["/api/ai/chat-optimized", "/api/ai/chat"])
def test_a_synchronously_stored_answer_counts_against_the_daily_cost_limit_of_the_next_request(
        stored_pg_app, stub_upstream, route):
    # chat-optimized stores before its answer ends
    client, services, key, periods = daily_limited_key(stored_pg_app, stub_upstream)
    usage, today = services.usage, services.usage.today()
    assert usage.limit_spend(key["id"], periods)["cost_today"] == 0  # cached before
    assert usage.spend(key["id"], today)["cost_today"] == 0

    answered = chat(client, key["apiKey"], route=route)
    assert answered.status_code == 200, answered.json

    # The answer came after its use was stored and the spend caches dropped: the next
    # request's check (cache-first on chat-optimized) reads the new spend.
    assert usage.limit_spend(key["id"], periods)["cost_today"] > Decimal("0.000001")
    assert usage.spend(key["id"], today)["cost_today"] > Decimal("0.000001")
    refused = chat(client, key["apiKey"], route="/api/ai/chat-optimized")
    assert refused.status_code == 429, refused.json
    assert refused.json["error"]["code"] == "DAILY_COST_LIMIT_EXCEEDED"


@pytest.mark.parametrize("route", ["/api/ai/chat-optimized", "/api/ai/chat-fast"])
def test_a_queued_answer_counts_against_the_daily_cost_limit_once_the_drain_stored_it(
        pg_app, stub_upstream, route):
    client, services, key, periods = daily_limited_key(pg_app, stub_upstream)
    usage = services.usage

    assert chat(client, key["apiKey"], route=route).status_code == 200
    assert usage.limit_spend(key["id"], periods)["cost_today"] == 0  # queued, not stored yet
    assert services.usage_queue.drain_once("tests").recorded == 1
    # The drain's store dropped the spend caches: the next check reads the new spend.
    assert usage.limit_spend(key["id"], periods)["cost_today"] > Decimal("0.000001")
    refused = chat(client, key["apiKey"], route=route)
    assert refused.status_code == 429, refused.json
    assert refused.json["error"]["code"] == "DAILY_COST_LIMIT_EXCEEDED"

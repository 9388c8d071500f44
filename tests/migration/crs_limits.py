"""A key with one of the spend or window limits, made through the keys API or imported from a
claude-relay-service store (tests/migration/crs_fixture.py), so each enforcement test runs
against both."""

from __future__ import annotations

import redis

from tests.migration.crs_fixture import OFFSET_HOURS, build_crs_store
from tests.migration.importing import run_import
from tests.support.apps import login_headers
from tests.support.servers import PrivateRedis

# What the same limits are through our API (CRS_LIMITED_KEYS in crs_fixture.py).
API_FIELDS = {
    "total_capped": {"totalCostLimit": "1"},
    "weekly_capped": {"weeklyCostLimit": "1", "weeklyResetDay": 3, "weeklyResetHour": 9,
                      "weeklyCostModels": "claude-*", "timeZone": "+08:00"},
    "cost_windowed": {"windowLimits": [{"window": 300, "cost": "0.00002"}]},
    "request_windowed": {"windowLimits": [{"window": 60, "requests": 10}]},
}


def issued_key(app, source: str, label: str) -> dict:
    """{"id", "apiKey"} of a key with the limits of `label`, from `source` 'api' or 'crs'."""
    if source == "api":
        response = app.test_client().post("/api/keys", json={"name": label, **API_FIELDS[label]},
                                          headers=login_headers(app))
        assert response.status_code == 201, response.json
        return response.json["data"]
    server = PrivateRedis().start()
    try:
        client = redis.Redis(port=server.port, decode_responses=True)
        store = build_crs_store(client, offset_hours=OFFSET_HOURS)
        report = run_import(app, client, store.encryption_key, offset=OFFSET_HOURS,
                            phases=("keys",))
        client.close()
    finally:
        server.stop()
    assert report.ok, "\n".join(report.lines())
    return {"id": store.key_ids[label], "apiKey": store.plaintext_keys[label]}

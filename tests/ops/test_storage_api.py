"""Storage strategies over HTTP, on both backends: read, switch, refuse what is unsafe."""

import pytest

from app import services_of

SAFE = {"primaryStorage": "postgres", "enableCache": False, "cacheTTL": 120,
        "readStrategy": "database_first", "writeStrategy": "write_through"}


def strategy(client, headers, data_type):
    response = client.get(f"/api/admin/storage/{data_type}", headers=headers)
    assert response.status_code == 200
    return response.json["data"]


def test_every_data_type_has_a_default_strategy_with_the_ttl_in_force(client, admin_headers):
    for data_type in ("apikey", "account", "session"):
        assert strategy(client, admin_headers, data_type) == {
            "primaryStorage": "postgres", "enableCache": True, "cacheTTL": 300,
            "readStrategy": "cache_first", "writeStrategy": "write_through"}
    assert strategy(client, admin_headers, "usage")["readStrategy"] == "database_first"


def test_a_switch_answers_the_previous_strategy_and_is_stored(client, admin_headers):
    response = client.put("/api/admin/storage/apikey", json=SAFE, headers=admin_headers)
    assert response.status_code == 200
    assert response.json["data"]["previousStrategy"]["enableCache"] is True
    assert response.json["data"]["currentStrategy"] == SAFE
    assert strategy(client, admin_headers, "apikey") == SAFE


@pytest.mark.parametrize("data_type, change, field", [
    ("session", {"primaryStorage": "redis", "writeStrategy": "write_around"}, "primaryStorage"),
    ("apikey", {"readStrategy": "cache_only"}, "readStrategy"),
    ("session", {"readStrategy": "cache_only"}, "readStrategy"),
    ("account", {"writeStrategy": "write_behind"}, "writeStrategy"),
    ("apikey", {"writeStrategy": "write_around"}, "writeStrategy"),
    ("session", {"writeStrategy": "write_around", "enableCache": False}, "writeStrategy"),
    ("apikey", {"primaryStorage": "redis"}, "primaryStorage"),
])
def test_unsafe_combinations_are_refused_with_a_reason_and_change_nothing(
        client, admin_headers, data_type, change, field):
    before = strategy(client, admin_headers, data_type)
    response = client.put(f"/api/admin/storage/{data_type}", json={**SAFE, **change},
                          headers=admin_headers)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "STRATEGY_REFUSED"
    assert response.json["error"]["details"][field][0]
    assert strategy(client, admin_headers, data_type) == before


def test_write_behind_usage_needs_redis(app, client, admin_headers):
    body = {**SAFE, "primaryStorage": "redis", "writeStrategy": "write_behind"}
    response = client.put("/api/admin/storage/usage", json=body, headers=admin_headers)
    if services_of(app).cache.enabled:
        assert response.status_code == 200
    else:
        assert response.status_code == 422
        assert "No Redis" in response.json["error"]["details"]["writeStrategy"][0]


def test_bad_input_and_unknown_types_are_refused_without_change(client, admin_headers):
    before = strategy(client, admin_headers, "apikey")
    bad = client.put("/api/admin/storage/apikey", headers=admin_headers,
                     json={**SAFE, "readStrategy": "sometimes", "cacheTTL": 0})
    assert bad.status_code == 422
    assert set(bad.json["error"]["details"]) == {"readStrategy", "cacheTTL"}
    partial = client.put("/api/admin/storage/apikey", headers=admin_headers,
                         json={"enableCache": False})
    assert partial.status_code == 422
    assert client.get("/api/admin/storage/mail", headers=admin_headers).status_code == 404
    assert client.put("/api/admin/storage/mail", json=SAFE,
                      headers=admin_headers).status_code == 404
    assert strategy(client, admin_headers, "apikey") == before


def test_storage_health_reports_the_database_pool_and_redis(app, client, admin_headers):
    data = client.get("/api/admin/storage/health", headers=admin_headers).json["data"]
    database = data["postgres"]
    assert database["connected"] is True and 0 < database["latency"] < 5000
    pool = database["poolStatus"]
    assert pool["total"] == pool["idle"] + pool["inUse"] and pool["waiting"] == 0
    assert pool["size"] >= 1
    if services_of(app).cache.enabled:
        assert data["redis"]["connected"] is True and data["redis"]["latency"] >= 0
        assert data["redis"]["memory"]["used"] > 0
    else:
        assert data["redis"] == {"configured": False, "connected": False, "latency": None,
                                 "memory": None}

"""The keys blueprint over HTTP, on both backends."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app import services_of


def redis_value(client, name) -> bytes:
    """Any Redis value as bytes: strings, and the hashes and streams of metrics and queues."""
    kind = client.type(name)
    if kind == b"hash":
        return repr(client.hgetall(name)).encode()
    if kind == b"stream":
        return repr(client.xrange(name)).encode()
    return client.get(name) or b""


def key_count(client, headers) -> int:
    return client.get("/api/keys?includeDeleted=true", headers=headers).json["data"]["total"]


def test_a_created_key_is_shown_once_with_its_sha256(client, admin_headers):
    response = client.post("/api/keys", headers=admin_headers, json={
        "name": "ci", "description": "for CI", "permissions": "claude", "tokenLimit": 1000,
        "concurrencyLimit": 2, "dailyCostLimit": "1.25", "requestsPerMinute": 60,
        "expiresAt": "2030-01-01T00:00:00Z", "tags": ["team-a", "ci"]})
    assert response.status_code == 201
    data = response.json["data"]
    assert data["apiKey"].startswith("rg_") and len(data["apiKey"]) >= 3 + 48
    assert data["hashedKey"] == hashlib.sha256(data["apiKey"].encode()).hexdigest()
    assert data["permissions"] == "claude" and data["tags"] == ["ci", "team-a"]
    assert data["dailyCostLimit"] == 1.25 and data["requestsPerMinute"] == 60
    assert data["expiresAt"].startswith("2030-01-01T00:00:00")
    again = client.get(f"/api/keys/{data['id']}", headers=admin_headers).json["data"]
    assert "apiKey" not in again
    assert again["usage"] == {"totalRequests": 0, "totalInputTokens": 0, "totalOutputTokens": 0,
                              "totalTokens": 0, "totalCost": 0}


def test_the_plaintext_key_is_nowhere_in_the_database_or_redis(app, client, make_key):
    plaintext = make_key(name="secretive")["apiKey"]
    assert client.get("/api/keys/me", headers={"x-api-key": plaintext}).status_code == 200
    services = services_of(app)
    with services.engine.connect() as connection:
        from app.db.base import Base

        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                assert plaintext not in repr(tuple(row)), table.name
    if services.cache.enabled:
        cache_keys = list(services.cache.client.scan_iter(match=services.cache.prefix + "*"))
        assert cache_keys, "the key's validation should have been cached"
        for name in cache_keys:
            assert plaintext.encode() not in name
            value = redis_value(services.cache.client, name)
            assert plaintext.encode() not in value


def test_listing_filters_by_activity_permission_and_all_requested_tags(client, admin_headers,
                                                                        make_key):
    a = make_key(name="a", permissions="claude", tags=["x", "y"])
    b = make_key(name="b", permissions=["gemini", "openai"], tags=["x"])
    c = make_key(name="c", tags=["y"])
    client.patch(f"/api/keys/{c['id']}", json={"isActive": False}, headers=admin_headers)

    def names(query):
        response = client.get(f"/api/keys?{query}", headers=admin_headers)
        assert response.status_code == 200, response.json
        return sorted(key["name"] for key in response.json["data"]["keys"])

    assert names("tags=x&tags=y") == ["a"]
    assert names("tags=x") == ["a", "b"]
    assert names("permissions=openai") == ["b", "c"]
    assert names("permissions=all") == ["c"]
    assert names("isActive=false") == ["c"]
    assert b["permissions"] == ["gemini", "openai"] and a["permissions"] == "claude"


def test_pages_count_from_one_and_sorting_follows_the_asked_field(client, admin_headers,
                                                                   make_key):
    for name in ["delta", "alpha", "charlie", "bravo", "echo"]:
        make_key(name=name)
    response = client.get("/api/keys?limit=2&offset=2&sortBy=name&sortOrder=ASC",
                          headers=admin_headers)
    data = response.json["data"]
    assert [k["name"] for k in data["keys"]] == ["charlie", "delta"]
    assert (data["total"], data["page"], data["totalPages"]) == (5, 2, 3)


@pytest.mark.parametrize("query", ["limit=0", "limit=1000", "sortBy=password", "sortOrder=UP",
                                   "isActive=maybe", "permissions=azure"])
def test_bad_list_arguments_answer_422_in_the_envelope(client, admin_headers, query):
    response = client.get(f"/api/keys?{query}", headers=admin_headers)
    assert response.status_code == 422
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert response.json["error"]["details"]


@pytest.mark.parametrize("body, field", [
    ({"name": "x" * 101}, "name"),
    ({"name": ""}, "name"),
    ({}, "name"),
    ({"name": "ok", "tokenLimit": "lots"}, "tokenLimit"),
    ({"name": "ok", "tokenLimit": -1}, "tokenLimit"),
    ({"name": "ok", "permissions": "azure"}, "permissions"),
    ({"name": "ok", "permissions": []}, "permissions"),
    ({"name": "ok", "tags": "not-a-list"}, "tags"),
    ({"name": "ok", "dailyCostLimit": "NaN"}, "dailyCostLimit"),
    ({"name": "ok", "expiresAt": "tomorrow"}, "expiresAt"),
    ({"name": "ok", "surprise": 1}, "surprise"),
])
def test_bad_key_bodies_answer_422_and_write_nothing(client, admin_headers, body, field):
    before = key_count(client, admin_headers)
    response = client.post("/api/keys", json=body, headers=admin_headers)
    assert response.status_code == 422, response.json
    assert response.json["success"] is False
    assert field in response.json["error"]["details"]
    assert key_count(client, admin_headers) == before


def test_malformed_json_answers_400_in_the_envelope_and_writes_nothing(client, admin_headers):
    before = key_count(client, admin_headers)
    response = client.post("/api/keys", data='{"name": "x",', headers=admin_headers,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"success": False, "error": {
        "code": "BAD_REQUEST", "message": "The request body is not valid JSON.", "details": {}}}
    assert key_count(client, admin_headers) == before


def test_a_bad_update_changes_nothing(client, admin_headers, make_key):
    key = make_key(name="steady", tokenLimit=5)
    response = client.patch(f"/api/keys/{key['id']}", headers=admin_headers,
                            json={"name": "renamed", "tokenLimit": "many"})
    assert response.status_code == 422
    again = client.get(f"/api/keys/{key['id']}", headers=admin_headers).json["data"]
    assert (again["name"], again["tokenLimit"]) == ("steady", 5)


def test_a_taken_id_answers_409_duplicate_key(client, admin_headers, make_key):
    make_key(id="fixed-id")
    response = client.post("/api/keys", json={"id": "fixed-id", "name": "again"},
                           headers=admin_headers)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "DB_DUPLICATE_KEY"


def test_validate_answers_exactly_the_seed_shape(client, admin_headers, make_key):
    key = make_key(permissions="gemini", concurrencyLimit=3, dailyCostLimit=2,
                   requestsPerMinute=30)
    response = client.post("/api/keys/validate", json={"hashedKey": key["hashedKey"]},
                           headers=admin_headers)
    assert response.json == {"success": True, "data": {
        "id": key["id"], "permissions": "gemini", "isActive": True, "expiresAt": None,
        "rateLimits": {"concurrency": 3, "daily": 2, "requests": 30}}}
    unknown = client.post("/api/keys/validate", json={"hashedKey": "0" * 64},
                          headers=admin_headers)
    assert unknown.status_code == 404


def test_a_deleted_key_keeps_its_row_and_history_but_leaves_the_list(client, admin_headers,
                                                                      make_key):
    key = make_key(name="gone")
    client.post(f"/api/keys/{key['id']}/usage", json={"model": "m", "inputTokens": 3},
                headers=admin_headers)
    assert client.delete(f"/api/keys/{key['id']}", headers=admin_headers).status_code == 200
    assert client.get(f"/api/keys/{key['id']}", headers=admin_headers).status_code == 404
    listed = client.get("/api/keys", headers=admin_headers).json["data"]["keys"]
    assert key["id"] not in [k["id"] for k in listed]
    everything = client.get("/api/keys?includeDeleted=true", headers=admin_headers).json["data"]
    deleted = next(k for k in everything["keys"] if k["id"] == key["id"])
    assert deleted["isDeleted"] is True and deleted["usage"]["totalInputTokens"] == 3


def test_the_key_holder_sees_its_own_key_by_bearer_or_header(client, make_key):
    key = make_key(name="mine", tokenLimit=10)
    for headers in ({"Authorization": f"Bearer {key['apiKey']}"}, {"x-api-key": key["apiKey"]}):
        response = client.get("/api/keys/me", headers=headers)
        assert response.status_code == 200
        assert response.json["data"]["id"] == key["id"]
        assert response.json["data"]["tokenLimit"] == 10


def test_a_missing_key_is_401_missing_api_key(client):
    response = client.get("/api/keys/me")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "MISSING_API_KEY"


def test_unknown_inactive_expired_and_deleted_keys_get_one_answer(app, client, admin_headers,
                                                                  make_key):
    inactive, expired, deleted = make_key(), make_key(), make_key()
    client.patch(f"/api/keys/{inactive['id']}", json={"isActive": False}, headers=admin_headers)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    client.patch(f"/api/keys/{expired['id']}", json={"expiresAt": past}, headers=admin_headers)
    client.delete(f"/api/keys/{deleted['id']}", headers=admin_headers)
    answers = []
    for plaintext in ["rg_" + "0" * 64, inactive["apiKey"], expired["apiKey"], deleted["apiKey"]]:
        response = client.get("/api/keys/me", headers={"x-api-key": plaintext})
        assert response.status_code == 401
        answers.append(response.json)
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["error"]["code"] == "INVALID_API_KEY"


def test_fifty_concurrent_usage_records_leave_exact_totals(app, admin_headers, make_key):
    key = make_key(name="busy")

    def record(i):
        client = app.test_client()
        response = client.post(f"/api/keys/{key['id']}/usage", headers=admin_headers, json={
            "model": "gpt-4o", "inputTokens": 10 + i, "outputTokens": 5, "cost": "0.00001234",
            "requestCount": 1})
        return response.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(record, range(50)))
    assert statuses == [201] * 50
    usage = app.test_client().get(f"/api/keys/{key['id']}", headers=admin_headers).json["data"]
    assert usage["usage"] == {
        "totalRequests": 50, "totalInputTokens": sum(10 + i for i in range(50)),
        "totalOutputTokens": 250, "totalTokens": sum(15 + i for i in range(50)),
        "totalCost": float(Decimal("0.00001234") * 50)}
    assert usage["lastUsedAt"] is not None


def test_usage_for_an_unknown_key_is_404_and_bad_usage_is_422(client, admin_headers, make_key):
    assert client.post("/api/keys/nope/usage", json={"model": "m"},
                       headers=admin_headers).status_code == 404
    key = make_key()
    for body in ({"inputTokens": 1}, {"model": "m", "inputTokens": -5},
                 {"model": "m", "cost": "abc"}, {"model": "m", "requestCount": 0}):
        response = client.post(f"/api/keys/{key['id']}/usage", json=body, headers=admin_headers)
        assert response.status_code == 422, body
    data = client.get(f"/api/keys/{key['id']}", headers=admin_headers).json["data"]
    assert data["usage"]["totalRequests"] == 0

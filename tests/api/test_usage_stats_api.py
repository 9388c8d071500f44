"""The /api/usage statistics routes: recording, reports, CSV, cleanup, and their refusals."""

import csv
import io

import pytest

RANGE = {"startDate": "2025-10-30T00:00:00Z", "endDate": "2025-11-01T00:00:00Z"}
RECORD = {"accountType": "claude", "model": "claude-a", "inputTokens": 100, "outputTokens": 20,
          "cost": "0.125", "timestamp": "2025-10-30T14:30:00Z"}


@pytest.fixture
def app_config(app_config):
    # The reports here read fixed dates of 2025: reported usage must lie within the retention.
    return {**app_config, "usage_retention_days": 36_500}


@pytest.fixture
def make_key(make_key):
    # tags=[]: creating a key without tags trips a detached lazy load of its tags (foundation).
    return lambda **fields: make_key(**{"tags": [], **fields})


@pytest.fixture
def key(make_key):
    return make_key()


def key_headers(key) -> dict:
    return {"x-api-key": key["apiKey"]}


def stats(client, headers, **params):
    return client.get("/api/usage/stats", query_string={**RANGE, **params}, headers=headers)


def test_an_admin_records_usage_and_a_retry_is_not_counted_again(client, admin_headers, key):
    body = {**RECORD, "apiKeyId": key["id"], "requestId": "req-42"}
    first = client.post("/api/usage/records", json=body, headers=admin_headers)
    assert first.status_code == 201, first.json
    assert first.json == {"success": True, "data": {"recorded": True}}
    again = client.post("/api/usage/records", json=body, headers=admin_headers)
    assert again.status_code == 200
    assert again.json["data"] == {"recorded": False}
    summary = stats(client, admin_headers).json["data"]["summary"]
    assert (summary["totalRequests"], summary["totalTokens"], summary["totalCost"]) == (
        1, 120, 0.125)


def test_a_key_records_and_reads_its_own_usage_only(client, admin_headers, make_key):
    mine, other = make_key(), make_key()
    # A key holder reports a model of the catalogue.
    assert client.post("/api/usage/records", json={**RECORD, "model": "openai/gpt-4o-mini"},
                       headers=key_headers(mine)).status_code == 201
    client.post("/api/usage/records", json={**RECORD, "apiKeyId": other["id"]},
                headers=admin_headers)
    own = stats(client, key_headers(mine), groupBy="apikey").json["data"]
    assert own["summary"]["totalRequests"] == 1
    assert {k for row in own["stats"] for k in row["apiKeys"]} == {mine["id"]}
    assert stats(client, admin_headers).json["data"]["summary"]["totalRequests"] == 2


def test_a_key_asking_for_another_keys_usage_is_forbidden(client, make_key):
    mine, other = make_key(), make_key()
    answers = [
        client.get("/api/usage/stats", query_string={**RANGE, "apiKeyId": other["id"]},
                   headers=key_headers(mine)),
        client.get("/api/usage/cost-analysis", query_string={**RANGE, "apiKeyId": other["id"]},
                   headers=key_headers(mine)),
        client.post("/api/usage/records", json={**RECORD, "apiKeyId": other["id"]},
                    headers=key_headers(mine)),
    ]
    for response in answers:
        assert response.status_code == 403
        assert response.json["success"] is False
        assert response.json["error"]["code"] == "FORBIDDEN"


def test_reports_need_credentials(client):
    response = client.get("/api/usage/stats", query_string=RANGE)
    assert response.status_code == 401
    assert response.json["success"] is False


def test_stats_answer_the_documented_shape_in_a_time_zone(client, admin_headers, key):
    client.post("/api/usage/records", json={**RECORD, "apiKeyId": key["id"]},
                headers=admin_headers)
    response = client.get("/api/usage/stats", headers=admin_headers, query_string={
        "startDate": "2025-10-30T00:00:00+09:00", "endDate": "2025-11-01T00:00:00+09:00",
        "timezone": "Asia/Tokyo", "groupBy": "model"})
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert [row["date"] for row in data["stats"]] == ["2025-10-30T00:00:00+09:00",
                                                      "2025-10-31T00:00:00+09:00"]
    assert data["stats"][0]["models"] == {"claude-a": {
        "requests": 1, "inputTokens": 100, "outputTokens": 20, "cacheWriteTokens": 0,
        "cacheReadTokens": 0, "totalTokens": 120, "cost": 0.125}}
    assert set(data["summary"]) >= {"totalRequests", "totalTokens", "totalCost",
                                    "averageCostPerToken"}


def test_stats_download_as_csv_with_the_same_rows(client, admin_headers, key):
    client.post("/api/usage/records", json={**RECORD, "apiKeyId": key["id"],
                                            "model": "=cmd()"}, headers=admin_headers)
    response = stats(client, admin_headers, groupBy="model", format="csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["date"], r["model"], r["requests"], r["cost"]) for r in rows] == [
        ("2025-10-30T00:00:00+00:00", "'=cmd()", "1", "0.12500000"),
        ("2025-10-31T00:00:00+00:00", "", "0", "0.00000000"),
    ]


def test_cost_analysis_answers_in_the_envelope(client, admin_headers, key):
    client.post("/api/usage/records", json={**RECORD, "apiKeyId": key["id"]},
                headers=admin_headers)
    response = client.get("/api/usage/cost-analysis", headers=admin_headers,
                          query_string={**RANGE, "groupBy": "model"})
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["costBreakdown"] == [{"category": "claude-a", "cost": 0.125, "percentage": 100}]
    assert [t["change"] for t in data["trends"]] == [0.125, -0.125]
    assert data["topModels"] == [{"model": "claude-a", "cost": 0.125, "requests": 1}]


def test_cleanup_is_for_admins_and_answers_its_counts(client, admin_headers, key):
    forbidden = client.post("/api/usage/cleanup", json={}, headers=key_headers(key))
    assert forbidden.status_code == 403
    client.post("/api/usage/records", json={**RECORD, "apiKeyId": key["id"]},
                headers=admin_headers)
    response = client.post("/api/usage/cleanup", json={"retentionDays": 1},
                           headers=admin_headers)
    assert response.status_code == 200, response.json
    assert response.json["data"] == {"deletedRecords": 1, "remainingRecords": 0}
    # The rollups stay: the report is unchanged.
    assert stats(client, admin_headers).json["data"]["summary"]["totalRequests"] == 1


STATS, COSTS = "/api/usage/stats", "/api/usage/cost-analysis"


BAD_QUERIES = [
    (STATS, {"startDate": "2025-11-01T00:00:00Z", "endDate": "2025-10-30T00:00:00Z"},
     "endDate"),
    (COSTS, {"startDate": "2025-11-01T00:00:00Z", "endDate": "2025-10-30T00:00:00Z"},
     "endDate"),
    (STATS, {"granularity": "week"}, "granularity"),
    (STATS, {"granularity": "hour", "endDate": "2025-12-30T00:00:00Z"}, "endDate"),
    (COSTS, {"endDate": "2026-12-30T00:00:00Z"}, "endDate"),
    (STATS, {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    (COSTS, {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    (STATS, {"timezone": "Asia/Kolkata"}, "timezone"),
    (STATS, {"startDate": "2025-10-30T00:00:00"}, "startDate"),
    (STATS, {"startDate": "2025-10-30T00:30:00Z"}, "startDate"),
    (STATS, {"groupBy": "colour"}, "groupBy"),
    (COSTS, {"groupBy": "apikey"}, "groupBy"),
    (STATS, {"format": "xml"}, "format"),
]


def test_bad_report_queries_are_422_in_the_envelope(client, admin_headers):
    for path, params, field in BAD_QUERIES:
        response = client.get(path, query_string={**RANGE, **params}, headers=admin_headers)
        assert response.status_code == 422, (path, params, response.json)
        assert response.json["success"] is False
        assert response.json["error"]["code"] == "VALIDATION_ERROR"
        assert field in response.json["error"]["details"], (params, response.json)


BAD_RECORDS = [
    {"inputTokens": -1}, {"accountType": "azure"}, {"model": ""}, {"cost": "NaN"},
    {"surprise": 1}, {"requestCount": 0}, {"timestamp": "yesterday"}, {"requestId": ""},
]


def test_a_bad_record_is_422_and_changes_nothing(client, admin_headers, key):
    for change in BAD_RECORDS:
        body = {**RECORD, "apiKeyId": key["id"], **change}
        response = client.post("/api/usage/records", json=body, headers=admin_headers)
        assert response.status_code == 422, change
        assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert stats(client, admin_headers).json["data"]["summary"]["totalRequests"] == 0
    assert client.get(f"/api/keys/{key['id']}",
                      headers=admin_headers).json["data"]["usage"]["totalRequests"] == 0


def test_an_admin_must_name_the_key_to_record_against(client, admin_headers):
    response = client.post("/api/usage/records", json=RECORD, headers=admin_headers)
    assert response.status_code == 422
    assert "apiKeyId" in response.json["error"]["details"]


def test_recording_against_an_unknown_key_is_404(client, admin_headers):
    response = client.post("/api/usage/records", json={**RECORD, "apiKeyId": "nope"},
                           headers=admin_headers)
    assert response.status_code == 404


def test_the_key_usage_route_computes_cost_through_the_same_service(client, admin_headers, key):
    response = client.post(f"/api/keys/{key['id']}/usage", headers=admin_headers, json={
        "model": "claude-a", "inputTokens": 7, "timestamp": "2025-10-30T01:00:00Z"})
    assert response.status_code == 201, response.json
    summary = stats(client, admin_headers).json["data"]["summary"]
    assert (summary["totalRequests"], summary["totalTokens"]) == (1, 7)


def test_the_openapi_document_lists_the_usage_routes(client):
    paths = client.get("/openapi.json").json["paths"]
    assert {"/api/usage/records", "/api/usage/stats", "/api/usage/cost-analysis",
            "/api/usage/cleanup"} <= set(paths)

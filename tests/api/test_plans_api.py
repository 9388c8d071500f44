"""/api/plans: each plan's limit and period per model type, held in the database."""

from __future__ import annotations


def test_the_default_limits_are_listed_for_anyone(client):
    response = client.get("/api/plans")
    assert response.status_code == 200
    assert sorted(response.json["data"], key=lambda r: (r["plan"], r["modelType"])) == [
        {"plan": "free", "modelType": "basic", "limit": 50, "period": "day"},
        {"plan": "free", "modelType": "premium", "limit": 5, "period": "day"},
        {"plan": "premium", "modelType": "basic", "limit": 1000, "period": "day"},
        {"plan": "premium", "modelType": "premium", "limit": 100, "period": "day"},
    ]


def test_an_admin_changes_one_limit(client, admin_headers):
    response = client.put("/api/plans/free/premium", json={"limit": 7, "period": "month"},
                          headers=admin_headers)
    assert response.json == {"success": True, "data": {
        "plan": "free", "modelType": "premium", "limit": 7, "period": "month"}}
    rows = client.get("/api/plans").json["data"]
    assert {"plan": "free", "modelType": "premium", "limit": 7, "period": "month"} in rows


def test_unknown_plans_are_404_bad_limits_422_and_non_admins_refused(client, admin_headers):
    assert client.put("/api/plans/gold/premium", json={"limit": 1, "period": "day"},
                      headers=admin_headers).status_code == 404
    assert client.put("/api/plans/free/luxury", json={"limit": 1, "period": "day"},
                      headers=admin_headers).status_code == 404
    for bad in ({"limit": -1, "period": "day"}, {"limit": 1, "period": "week"}, {"limit": 1}):
        assert client.put("/api/plans/free/basic", json=bad,
                          headers=admin_headers).status_code == 422
    assert client.put("/api/plans/free/basic", json={"limit": 1, "period": "day"}
                      ).status_code == 401
    assert {"plan": "free", "modelType": "basic", "limit": 50, "period": "day"} in \
        client.get("/api/plans").json["data"]

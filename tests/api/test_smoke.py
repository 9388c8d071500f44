"""The app answers on both backends."""


def test_liveness_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"status": "ok"}}


def test_readiness_reports_the_schema_at_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["data"]["checks"]["database"]["schemaAtHead"] is True

"""The quota routes are documented in the OpenAPI document, with their shapes."""

from __future__ import annotations


def test_the_usage_routes_are_documented_with_the_limit_error_and_the_security(client):
    spec = client.get("/openapi.json").json
    check = spec["paths"]["/api/usage/check"]["get"]
    assert check["summary"] == "May the caller use this model now?"
    assert "429" in check["responses"] and "requestBody" not in check
    assert {"session", "apiKeyBearer", "apiKeyHeader"} == {
        name for requirement in check["security"] for name in requirement}
    update = spec["paths"]["/api/usage/update"]["post"]
    assert {p["name"] for p in update["parameters"]} >= {"model", "increment", "userId",
                                                         "Idempotency-Key"}
    for path in ("/api/usage/reserve", "/api/usage/reservations/{reservation_id}/commit",
                 "/api/users/{user_id}/credits", "/api/plans/{plan}/{model_type}",
                 "/api/models/{model_id}"):
        assert path in spec["paths"], path
    limit_error = spec["components"]["schemas"]["LimitError"]["properties"]
    assert {"userPlan", "upgradeAction"} <= set(limit_error)

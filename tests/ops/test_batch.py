"""Batches: all operations in one transaction through the services, or none of them."""

import pytest
from sqlalchemy import text

from app import services_of
from app.api.batch_tables import BATCH_SCHEMAS
from app.errors import InvalidInput, Unauthenticated
from app.services.transactions.tables import TABLE_NAMES, Operation


def batch(client, headers, *operations):
    return client.post("/api/admin/batch", json={"operations": list(operations)},
                       headers=headers)


def keys(client, headers) -> dict:
    data = client.get("/api/keys?includeDeleted=true&limit=100", headers=headers).json["data"]
    return {key["id"]: key for key in data["keys"]}


def test_a_batch_applies_its_operations_in_order_and_answers_each_result(client, admin_headers,
                                                                        make_key):
    old = make_key(name="old")
    response = batch(client, admin_headers,
                     {"type": "create", "table": "api_keys", "data": {"id": "b1", "name": "one"}},
                     {"type": "update", "table": "api_keys", "where": {"id": "b1"},
                      "data": {"tags": ["x"], "dailyCostLimit": "2.5"}},
                     {"type": "delete", "table": "api_keys", "where": {"id": old["id"]}})
    assert response.status_code == 200, response.json
    created, updated, deleted = response.json["data"]["results"]
    assert created["apiKey"].startswith("rg_") and created["name"] == "one"
    assert updated["tags"] == ["x"] and updated["dailyCostLimit"] == 2.5
    assert "apiKey" not in updated
    assert deleted == {"id": old["id"], "deleted": True}
    stored = keys(client, admin_headers)
    assert stored["b1"]["tags"] == ["x"] and stored[old["id"]]["isDeleted"] is True


def test_a_batch_with_one_bad_operation_changes_nothing(client, admin_headers, make_key):
    kept = make_key(name="kept")
    before = keys(client, admin_headers)
    response = batch(client, admin_headers,
                     {"type": "create", "table": "api_keys", "data": {"name": "never"}},
                     {"type": "update", "table": "api_keys", "where": {"id": kept["id"]},
                      "data": {"name": "renamed", "isActive": False}},
                     {"type": "delete", "table": "api_keys", "where": {"id": "missing"}})
    assert response.status_code == 404
    assert response.json["error"]["index"] == 2
    assert response.json["error"]["code"] == "DB_RECORD_NOT_FOUND"
    assert keys(client, admin_headers) == before
    assert client.get("/api/keys/me", headers={"x-api-key": kept["apiKey"]}).status_code == 200


def test_a_duplicate_in_a_batch_fails_at_its_index_and_changes_nothing(client, admin_headers,
                                                                      make_key):
    make_key(id="dup", name="first")
    before = keys(client, admin_headers)
    response = batch(client, admin_headers,
                     {"type": "create", "table": "api_keys", "data": {"id": "new", "name": "a"}},
                     {"type": "create", "table": "api_keys", "data": {"id": "dup", "name": "b"}})
    assert response.status_code == 409 and response.json["error"]["index"] == 1
    assert keys(client, admin_headers) == before


@pytest.mark.parametrize("operation, where", [
    ({"type": "update", "table": "api_keys", "where": {"id": "x"}, "data": {"name": ""}},
     "data"),
    ({"type": "update", "table": "api_keys", "data": {"name": "n"}}, "where"),
    ({"type": "create", "table": "api_keys", "data": {"name": "n", "bogus": 1}}, "data"),
    ({"type": "create", "table": "sessions", "data": {}}, "table"),
    ({"type": "drop", "table": "api_keys", "data": {}}, "type"),
    ({"type": "delete", "table": "api_keys", "where": {"id": "x"}, "data": {"a": 1}}, "data"),
])
def test_invalid_operations_are_refused_by_index_before_anything_runs(client, admin_headers,
                                                                      operation, where):
    before = keys(client, admin_headers)
    response = batch(client, admin_headers,
                     {"type": "create", "table": "api_keys", "data": {"name": "fine"}}, operation)
    assert response.status_code == 422
    assert where in response.json["error"]["details"]["operations"]["1"]
    assert keys(client, admin_headers) == before
    assert client.post("/api/admin/batch", json={"operations": []},
                       headers=admin_headers).status_code == 422


NEW_MODEL = {"id": "openai/gpt-batch", "name": "GPT-Batch", "provider": "openai",
             "modelType": "basic", "upstreamModel": "gpt-batch", "inputPrice": "0.5",
             "outputPrice": 2}


def read(client, headers, path: str):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def users_models_and_plans(client, headers) -> dict:
    """The three tables as their routes show them, to compare before and after a batch."""
    return {"users": read(client, headers, "/api/users?limit=100"),
            "models": read(client, headers, "/api/models"),
            "plans": read(client, headers, "/api/plans")}


def test_users_are_created_and_changed_in_a_batch_as_by_their_routes(client, admin_headers,
                                                                    make_user):
    existing = make_user(name="before")
    response = batch(client, admin_headers,
                     {"type": "create", "table": "users",
                      "data": {"email": "New@Example.com", "plan": "premium", "credits": 3}},
                     {"type": "update", "table": "users", "where": {"id": existing["id"]},
                      "data": {"name": "after", "plan": "premium"}})
    assert response.status_code == 200, response.json
    created, updated = response.json["data"]["results"]
    assert (created["email"], created["plan"], created["credits"]) == (
        "new@example.com", "premium", 3)
    assert (updated["id"], updated["name"], updated["plan"]) == (existing["id"], "after",
                                                                 "premium")
    stored = read(client, admin_headers, f"/api/users/{created['id']}")
    assert (stored["email"], stored["plan"], stored["credits"]) == ("new@example.com",
                                                                    "premium", 3)
    stored = read(client, admin_headers, f"/api/users/{existing['id']}")
    assert (stored["name"], stored["plan"]) == ("after", "premium")


def test_models_are_created_changed_and_deactivated_in_a_batch(client, admin_headers):
    response = batch(client, admin_headers,
                     {"type": "create", "table": "models", "data": NEW_MODEL},
                     {"type": "update", "table": "models", "where": {"id": NEW_MODEL["id"]},
                      "data": {"inputPrice": "0.25", "modelType": "premium"}},
                     {"type": "delete", "table": "models", "where": {"id": "openai/gpt-4o"}})
    assert response.status_code == 200, response.json
    created, updated, deactivated = response.json["data"]["results"]
    assert (created["id"], created["outputPrice"], created["isActive"]) == (
        "openai/gpt-batch", 2.0, True)
    assert (updated["inputPrice"], updated["modelType"]) == (0.25, "premium")
    # As DELETE /api/models/{id}: the row stays, answered as a model, no longer active.
    assert (deactivated["id"], deactivated["isActive"]) == ("openai/gpt-4o", False)
    stored = read(client, admin_headers, "/api/models/openai/gpt-batch")
    assert (stored["modelType"], stored["inputPrice"], stored["isActive"]) == (
        "premium", 0.25, True)
    stored = read(client, admin_headers, "/api/models/openai/gpt-4o")
    assert (stored["isActive"], stored["modelType"]) == (False, "premium")


def test_plan_limits_are_set_in_a_batch_keyed_plan_slash_model_type(client, admin_headers):
    response = batch(client, admin_headers,
                     {"type": "update", "table": "plans", "where": {"id": "free/premium"},
                      "data": {"limit": 7, "period": "month"}},
                     {"type": "update", "table": "plans", "where": {"id": "premium/basic"},
                      "data": {"limit": 0, "period": "day"}})
    assert response.status_code == 200, response.json
    assert response.json["data"]["results"] == [
        {"plan": "free", "modelType": "premium", "limit": 7, "period": "month"},
        {"plan": "premium", "modelType": "basic", "limit": 0, "period": "day"}]
    stored = read(client, admin_headers, "/api/plans")
    assert {"plan": "free", "modelType": "premium", "limit": 7, "period": "month"} in stored
    assert {"plan": "premium", "modelType": "basic", "limit": 0, "period": "day"} in stored
    assert {"plan": "free", "modelType": "basic", "limit": 50, "period": "day"} in stored


@pytest.mark.parametrize("failing, status, code", [
    ({"type": "update", "table": "models", "where": {"id": "openai/missing"},
      "data": {"name": "x"}}, 404, "DB_RECORD_NOT_FOUND"),
    ({"type": "update", "table": "plans", "where": {"id": "gold/basic"},
      "data": {"limit": 1, "period": "day"}}, 404, "NOT_FOUND"),
    ({"type": "update", "table": "plans", "where": {"id": "free"},
      "data": {"limit": 1, "period": "day"}}, 404, "NOT_FOUND"),
    ({"type": "update", "table": "users", "where": {"id": "missing"},
      "data": {"name": "x"}}, 404, "DB_RECORD_NOT_FOUND"),
    ({"type": "create", "table": "users", "data": {"email": "taken@example.com"}},
     409, "DB_DUPLICATE_KEY"),
    # The batch's own first operation: later operations see earlier ones.
    ({"type": "create", "table": "users", "data": {"email": "never@example.com"}},
     409, "DB_DUPLICATE_KEY"),
    ({"type": "create", "table": "models", "data": {**NEW_MODEL, "id": "openai/other"}},
     409, "DB_DUPLICATE_KEY"),
])
def test_a_batch_over_users_models_and_plans_with_one_failing_operation_changes_nothing(
        client, admin_headers, make_user, failing, status, code):
    kept = make_user(email="taken@example.com", name="kept")
    before = users_models_and_plans(client, admin_headers)
    response = batch(client, admin_headers,
                     {"type": "create", "table": "users", "data": {"email": "never@example.com"}},
                     {"type": "update", "table": "users", "where": {"id": kept["id"]},
                      "data": {"name": "changed", "plan": "premium"}},
                     {"type": "create", "table": "models", "data": NEW_MODEL},
                     {"type": "update", "table": "models", "where": {"id": "openai/gpt-4o"},
                      "data": {"inputPrice": "99", "modelType": "basic"}},
                     {"type": "delete", "table": "models", "where": {"id": "openai/gpt-4o-mini"}},
                     {"type": "update", "table": "plans", "where": {"id": "free/premium"},
                      "data": {"limit": 7, "period": "month"}},
                     failing)
    assert response.status_code == status, response.json
    assert response.json["success"] is False
    assert response.json["error"]["code"] == code and response.json["error"]["index"] == 6
    assert users_models_and_plans(client, admin_headers) == before


def refused_second(client, admin_headers, operation) -> dict:
    """Batch a valid plan update and `operation`: 422 naming index 1, and nothing changed;
    answers the refusal's details for that operation."""
    before = users_models_and_plans(client, admin_headers)
    response = batch(client, admin_headers,
                     {"type": "update", "table": "plans", "where": {"id": "free/basic"},
                      "data": {"limit": 1, "period": "day"}},
                     operation)
    assert response.status_code == 422
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert users_models_and_plans(client, admin_headers) == before
    return response.json["error"]["details"]["operations"]["1"]


@pytest.mark.parametrize("operation", [
    {"type": "delete", "table": "users", "where": {"id": "any"}},
    {"type": "create", "table": "plans", "data": {"limit": 1, "period": "day"}},
    {"type": "delete", "table": "plans", "where": {"id": "free/basic"}},
])
def test_operations_a_tables_routes_do_not_offer_are_refused_before_anything_runs(
        client, admin_headers, operation):
    [message] = refused_second(client, admin_headers, operation)["type"]
    assert f"The {operation['table']} table takes no {operation['type']} in a batch" in message


@pytest.mark.parametrize("operation, where", [
    ({"type": "create", "table": "users", "data": {"email": "not-an-email"}}, "data"),
    ({"type": "update", "table": "users", "where": {"id": "x"}, "data": {"plan": "gold"}},
     "data"),
    # Credits are granted (POST /api/users/{id}/credits), never set.
    ({"type": "update", "table": "users", "where": {"id": "x"}, "data": {"credits": 5}},
     "data"),
    ({"type": "create", "table": "models", "data": {"id": "openai/x", "name": "X"}}, "data"),
    ({"type": "update", "table": "models", "where": {"id": "openai/gpt-4o"},
      "data": {"modelType": "luxury"}}, "data"),
    ({"type": "update", "table": "plans", "where": {"id": "free/basic"}, "data": {"limit": 1}},
     "data"),
    ({"type": "update", "table": "plans", "where": {"id": "free/basic"},
      "data": {"limit": -1, "period": "day"}}, "data"),
    ({"type": "update", "table": "plans", "data": {"limit": 1, "period": "day"}}, "where"),
])
def test_invalid_data_for_users_models_and_plans_is_refused_by_index(client, admin_headers,
                                                                     operation, where):
    assert where in refused_second(client, admin_headers, operation)


def test_the_tables_the_api_offers_are_the_ones_the_service_applies(services):
    offered = {table: schemas.operations for table, schemas in BATCH_SCHEMAS.items()}
    applied = {table: handler.operations
               for table, handler in services.transactions.tables.items()}
    assert offered == applied
    assert set(offered) == set(TABLE_NAMES)


def test_cached_validations_are_invalidated_after_a_batch_commits(pg_app):
    services = services_of(pg_app)
    key = services.keys.create({"name": "cached"})
    services.keys.authenticate(key.api_key)  # now in Redis
    services.transactions.run_batch([Operation("update", "api_keys", {"is_active": False},
                                               key.id)])
    with pytest.raises(Unauthenticated):
        services.keys.authenticate(key.api_key)


def test_cached_plans_profiles_and_model_tiers_are_invalidated_after_a_batch_commits(pg_app):
    services = services_of(pg_app)
    user = services.users.create(email="cached@example.com")
    # Read each once, so Redis holds them.
    assert services.plans.limits()["free"]["premium"] == {"limit": 5, "period": "day"}
    assert services.users.profile(user.id)["plan"] == "free"
    assert services.models.resolve("GPT-4o")["model_type"] == "premium"
    services.transactions.run_batch([
        Operation("update", "plans", {"limit": 7, "period": "month"}, "free/premium"),
        Operation("update", "users", {"plan": "premium"}, user.id),
        Operation("update", "models", {"model_type": "basic"}, "openai/gpt-4o")])
    assert services.plans.limits()["free"]["premium"] == {"limit": 7, "period": "month"}
    assert services.users.profile(user.id)["plan"] == "premium"
    assert services.models.resolve("GPT-4o")["model_type"] == "basic"


def test_the_service_refuses_an_operation_a_tables_routes_do_not_offer_before_any_runs(
        services):
    operations = [Operation("create", "users", {"email": "never@example.com"}),
                  Operation("delete", "users", {}, "some-user"),
                  Operation("create", "plans", {"limit": 1, "period": "day"})]
    with pytest.raises(InvalidInput) as refused:
        services.transactions.run_batch(operations)
    assert refused.value.extra["index"] == 1
    assert refused.value.details == {"type": ["Must be one of: create, update."]}
    assert services.users.list(email="never@example.com")["total"] == 0


class IsolationProbe:
    """A test table whose 'create' reports the transaction it runs in."""

    operations = ("create",)

    def __init__(self, uow):
        self.uow = uow

    def create(self, data):
        with self.uow() as uow:
            return {name: uow.session.execute(text(f"SHOW {name}")).scalar()
                    for name in ("transaction_isolation", "transaction_read_only")}


def test_a_batch_runs_at_the_isolation_level_asked_for(pg_app):
    services = services_of(pg_app)
    services.transactions.register("plans", IsolationProbe(services.uow))
    [serializable] = services.transactions.run_batch([Operation("create", "plans", {})],
                                                     isolation_level="SERIALIZABLE")
    assert serializable.result == {"transaction_isolation": "serializable",
                                   "transaction_read_only": "off"}
    [default] = services.transactions.run_batch([Operation("create", "plans", {})])
    assert default.result["transaction_isolation"] == "read committed"

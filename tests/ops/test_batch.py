"""Batches: all operations in one transaction through the services, or none of them."""

import pytest
from sqlalchemy import text

from app.errors import InvalidInput, Unauthenticated
from app.services.transactions.tables import Operation


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
    ({"type": "create", "table": "users", "data": {"email": "a@b.c"}}, "table"),
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


def test_cached_validations_are_invalidated_after_a_batch_commits(pg_app):
    services = pg_app.extensions["relaygate"]
    key = services.keys.create({"name": "cached"})
    services.keys.authenticate(key.api_key)  # now in Redis
    services.transactions.run_batch([Operation("update", "api_keys", {"is_active": False},
                                               key.id)])
    with pytest.raises(Unauthenticated):
        services.keys.authenticate(key.api_key)


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
    services = pg_app.extensions["relaygate"]
    services.transactions.register("plans", IsolationProbe(services.uow))
    [serializable] = services.transactions.run_batch([Operation("create", "plans", {})],
                                                     isolation_level="SERIALIZABLE")
    assert serializable.result == {"transaction_isolation": "serializable",
                                   "transaction_read_only": "off"}
    [default] = services.transactions.run_batch([Operation("create", "plans", {})])
    assert default.result["transaction_isolation"] == "read committed"

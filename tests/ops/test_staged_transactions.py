"""Staged transactions: operations stored, applied at commit all at once, or never."""

import threading
from datetime import timedelta

from app import services_of
from app.db.types import utcnow
from app.services.transactions.tables import Operation


def begin(client, headers, **options):
    response = client.post("/api/admin/transactions", json=options, headers=headers)
    assert response.status_code == 201, response.json
    return response.json["data"]["transactionId"]


def stage(client, headers, transaction_id, operation):
    return client.post(f"/api/admin/transactions/{transaction_id}/operations", json=operation,
                       headers=headers)


def key_names(client, headers) -> set[str]:
    data = client.get("/api/keys?limit=100", headers=headers).json["data"]
    return {key["name"] for key in data["keys"]}


def test_a_staged_transaction_commits_all_its_operations_at_once(client, admin_headers,
                                                                 make_key):
    existing = make_key(name="existing")
    transaction = begin(client, admin_headers, isolationLevel="SERIALIZABLE", timeout=60)
    for name in ("s1", "s2"):
        staged = stage(client, admin_headers, transaction,
                       {"type": "create", "table": "api_keys", "data": {"name": name}})
        assert staged.status_code == 201
    staged = stage(client, admin_headers, transaction, {
        "type": "update", "table": "api_keys", "where": {"id": existing["id"]},
        "data": {"name": "renamed"}})
    assert staged.json["data"] == {"transactionId": transaction, "position": 2,
                                   "operationCount": 3}
    assert key_names(client, admin_headers) == {"existing"}  # nothing applied before commit
    committed = client.post(f"/api/admin/transactions/{transaction}/commit",
                            headers=admin_headers)
    assert committed.status_code == 200
    data = committed.json["data"]
    assert data["status"] == "committed" and data["operationCount"] == 3
    assert [r["name"] for r in data["results"]] == ["s1", "s2", "renamed"]
    assert key_names(client, admin_headers) == {"s1", "s2", "renamed"}
    again = client.post(f"/api/admin/transactions/{transaction}/commit", headers=admin_headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "TRANSACTION_CLOSED"
    assert stage(client, admin_headers, transaction, {
        "type": "create", "table": "api_keys", "data": {"name": "late"}}).status_code == 409


def test_a_staged_transaction_changes_users_models_and_plans_only_at_commit(client,
                                                                          admin_headers):
    model = {"id": "openai/gpt-staged", "name": "GPT-Staged", "provider": "openai",
             "modelType": "basic", "upstreamModel": "gpt-staged", "inputPrice": "0.12345678",
             "outputPrice": 1}
    transaction = begin(client, admin_headers)
    for operation in ({"type": "create", "table": "users", "data": {"email": "s@example.com"}},
                      {"type": "create", "table": "models", "data": model},
                      {"type": "update", "table": "plans", "where": {"id": "free/basic"},
                       "data": {"limit": 3, "period": "month"}}):
        assert stage(client, admin_headers, transaction, operation).status_code == 201
    refused = stage(client, admin_headers, transaction,
                    {"type": "delete", "table": "users", "where": {"id": "any"}})
    assert refused.status_code == 422 and refused.json["success"] is False
    assert "type" in refused.json["error"]["details"]
    assert client.get("/api/models/openai/gpt-staged", headers=admin_headers).status_code == 404
    committed = client.post(f"/api/admin/transactions/{transaction}/commit",
                            headers=admin_headers)
    assert committed.status_code == 200, committed.json
    assert committed.json["data"]["operationCount"] == 3
    users = client.get("/api/users?email=s@example.com", headers=admin_headers).json["data"]
    assert users["total"] == 1
    stored = client.get("/api/models/openai/gpt-staged", headers=admin_headers).json["data"]
    assert stored["inputPrice"] == 0.12345678  # the price went through storage exactly
    assert {"plan": "free", "modelType": "basic", "limit": 3, "period": "month"} in \
        client.get("/api/plans").json["data"]


def test_a_failing_operation_at_commit_applies_nothing_and_closes_the_transaction(
        client, admin_headers):
    transaction = begin(client, admin_headers)
    stage(client, admin_headers, transaction,
          {"type": "create", "table": "api_keys", "data": {"name": "never"}})
    stage(client, admin_headers, transaction,
          {"type": "delete", "table": "api_keys", "where": {"id": "missing"}})
    failed = client.post(f"/api/admin/transactions/{transaction}/commit", headers=admin_headers)
    assert failed.status_code == 404 and failed.json["error"]["index"] == 1
    assert key_names(client, admin_headers) == set()
    state = client.get(f"/api/admin/transactions/{transaction}", headers=admin_headers)
    assert state.json["data"]["status"] == "failed"


def test_a_rolled_back_transaction_cannot_be_committed(client, admin_headers):
    transaction = begin(client, admin_headers)
    stage(client, admin_headers, transaction,
          {"type": "create", "table": "api_keys", "data": {"name": "discarded"}})
    rolled = client.post(f"/api/admin/transactions/{transaction}/rollback",
                         headers=admin_headers)
    assert rolled.status_code == 200 and rolled.json["data"]["status"] == "rolled_back"
    late = client.post(f"/api/admin/transactions/{transaction}/commit", headers=admin_headers)
    assert late.status_code == 409
    assert key_names(client, admin_headers) == set()


def test_a_transaction_past_its_timeout_cannot_be_staged_or_committed(app, client,
                                                                      admin_headers):
    transactions = services_of(app).transactions
    transaction = begin(client, admin_headers, timeout=5)
    stage(client, admin_headers, transaction,
          {"type": "create", "table": "api_keys", "data": {"name": "too late"}})
    transactions.clock = lambda: utcnow() + timedelta(seconds=6)
    late = client.post(f"/api/admin/transactions/{transaction}/commit", headers=admin_headers)
    assert late.status_code == 410 and late.json["error"]["code"] == "TRANSACTION_EXPIRED"
    assert stage(client, admin_headers, transaction, {
        "type": "create", "table": "api_keys", "data": {"name": "x"}}).status_code == 410
    assert client.post(f"/api/admin/transactions/{transaction}/rollback",
                       headers=admin_headers).status_code == 410
    state = client.get(f"/api/admin/transactions/{transaction}", headers=admin_headers)
    assert state.json["data"]["status"] == "expired"
    assert key_names(client, admin_headers) == set()


def test_read_only_transactions_refuse_changes_and_unknown_ids_are_404(client, admin_headers):
    transaction = begin(client, admin_headers, readOnly=True)
    refused = stage(client, admin_headers, transaction,
                    {"type": "create", "table": "api_keys", "data": {"name": "x"}})
    assert refused.status_code == 422 and refused.json["error"]["code"] == "READ_ONLY_TRANSACTION"
    for suffix in ("", "/commit", "/rollback"):
        method = client.get if suffix == "" else client.post
        assert method(f"/api/admin/transactions/none{suffix}",
                      headers=admin_headers).status_code == 404
    assert client.post("/api/admin/transactions", json={"isolationLevel": "DIRTY"},
                       headers=admin_headers).status_code == 422


def test_two_concurrent_commits_apply_a_transaction_once(pg_app):
    transactions = services_of(pg_app).transactions
    transaction = transactions.begin(timeout=60)["transaction_id"]
    transactions.stage(transaction, Operation("create", "api_keys", {"name": "once"}))
    outcomes, start = [], threading.Barrier(2)

    def commit():
        start.wait()
        try:
            outcomes.append(transactions.commit(transaction)["status"])
        except Exception as error:  # the loser's domain error
            outcomes.append(getattr(error, "code", repr(error)))

    threads = [threading.Thread(target=commit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["TRANSACTION_CLOSED", "committed"]
    assert services_of(pg_app).keys.list()["total"] == 1

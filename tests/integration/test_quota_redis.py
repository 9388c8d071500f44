"""The Redis side of quotas: one call when warm, shared by every worker, and never required."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import event

from app import services_of
from app.db.repositories.quota import CounterValue
from tests.support.apps import make_app
from tests.support.quota import stored_count, today

pytestmark = pytest.mark.redis


@pytest.fixture
def private_app(tmp_path, postgres_url, private_redis):
    application = make_app(tmp_path, postgres_url, private_redis.url, "rgq:")
    yield application
    services_of(application).engine.dispose()


def _caller(services, *, owned=True):
    user = services.users.create(email="warm@example.com")
    key = services.keys.create({"name": "k", "user_id": user.id if owned else None})
    return user, {"x-api-key": key.api_key}


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Every request this process sends Redis (a pipeline or a script call is one)."""
    sent = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return sent


@pytest.fixture
def sql_statements(private_app):
    statements = []
    event.listen(services_of(private_app).engine, "before_cursor_execute",
                 lambda *args, **kwargs: statements.append(args[2]))
    return statements


@pytest.mark.parametrize("owned", [True, False], ids=["key-with-owner", "key-without-owner"])
def test_a_warm_check_costs_one_redis_round_trip_and_no_sql(private_app, redis_round_trips,
                                                             sql_statements, owned):
    _, headers = _caller(services_of(private_app), owned=owned)
    client = private_app.test_client()
    assert client.get("/api/usage/check?model=GPT-4o", headers=headers).status_code == 200
    redis_round_trips.clear()
    sql_statements.clear()
    response = client.get("/api/usage/check?model=GPT-4o", headers=headers)
    assert response.status_code == 200
    assert (len(redis_round_trips), sql_statements) == (1, [])
    assert b"EVALSHA" in b"".join(redis_round_trips[0])


def test_a_warm_check_of_a_user_session_costs_one_redis_round_trip_and_no_sql(
        private_app, redis_round_trips, sql_statements):
    services = services_of(private_app)
    user = services.users.create(email="session@example.com")
    token = services.sessions.create(user_id=user.id, user_type="user")["session_token"]
    headers = {"Authorization": f"Bearer {token}"}
    client = private_app.test_client()
    client.get("/api/usage/check?model=GPT-4o", headers=headers)
    redis_round_trips.clear()
    sql_statements.clear()
    assert client.get("/api/usage/check?model=GPT-4o", headers=headers).status_code == 200
    assert (len(redis_round_trips), sql_statements) == (1, [])


def test_an_update_on_one_worker_is_seen_at_once_by_a_warm_check_on_another(
        tmp_path, postgres_url, redis_server_url, redis_prefix):
    workers = [make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
               for _ in range(2)]
    try:
        _, headers = _caller(services_of(workers[0]))
        first, second = (worker.test_client() for worker in workers)
        url = "/api/usage/check?model=GPT-4o"
        assert second.get(url, headers=headers).json["data"]["usage"]["used"] == 0
        first.post("/api/usage/update?model=GPT-4o&increment=3", headers=headers)
        assert second.get(url, headers=headers).json["data"]["usage"]["used"] == 3
        services_of(workers[1]).users.update(
            services_of(workers[1]).users.list()["users"][0].id, {"plan": "premium"})
        assert first.get(url, headers=headers).json["data"]["usage"]["limit"] == 100
    finally:
        for worker in workers:
            services_of(worker).engine.dispose()


def test_with_redis_stopped_the_routes_still_answer_from_the_database(private_app,
                                                                      private_redis):
    services = services_of(private_app)
    _, headers = _caller(services)
    client = private_app.test_client()
    client.post("/api/usage/update?model=GPT-4o&increment=3", headers=headers)
    assert client.get("/api/usage/check?model=GPT-4o", headers=headers).status_code == 200
    private_redis.stop()

    check = client.get("/api/usage/check?model=GPT-4o", headers=headers)
    assert check.status_code == 200
    assert check.json["data"]["usage"]["used"] == 3
    assert client.post("/api/usage/update?model=GPT-4o", headers=headers).status_code == 200
    reserved = client.post("/api/usage/reserve?model=GPT-4o", headers=headers)
    assert reserved.status_code == 201
    refused = client.get("/api/usage/check?model=GPT-4o", headers=headers)
    assert refused.status_code == 429
    assert refused.json["error"]["details"]["used"] == 5
    cancel = f"/api/usage/reservations/{reserved.json['data']['reservationId']}/cancel"
    assert client.post(cancel, headers=headers).status_code == 200
    assert client.get("/api/usage/check?model=GPT-4o",
                      headers=headers).json["data"]["usage"]["used"] == 4


def test_the_mirror_keeps_only_the_newest_version(pg_app):
    quota = services_of(pg_app).quota
    subject = quota.subject_of_user(services_of(pg_app).users.create(
        email="m@example.com").id)
    allowance = quota.allowance_for(subject, "GPT-4o")
    counter = quota.counter_key(subject, allowance)
    quota.mirror.write(counter, CounterValue(used=5, version=5))
    quota.mirror.write(counter, CounterValue(used=4, version=4))  # a late, older writer
    assert quota.mirror.read(counter) == 5
    quota.mirror.write(counter, CounterValue(used=3, version=6))  # a newer give-back
    assert quota.mirror.read(counter) == 3


def test_a_counter_missing_from_redis_is_filled_from_the_database_without_double_counting(
        pg_app):
    services = services_of(pg_app)
    subject = services.quota.subject_of_user(services.users.create(email="f@example.com").id)
    services.quota.update(subject, "GPT-4o", increment=3)
    counter = services.quota.counter_key(subject, services.quota.allowance_for(subject,
                                                                               "GPT-4o"))
    services.cache.client.delete(services.quota.mirror.key(counter))
    assert services.quota.verdict_for(subject, "GPT-4o").usage.used == 3
    services.quota.update(subject, "GPT-4o")
    assert services.quota.mirror.read(counter) == 4
    assert stored_count(services, subject.id, "premium", today()) == 4

"""Write-behind usage: queued in a Redis Stream, stored once by the drain worker."""

import gc
from decimal import Decimal

import pytest

from app import services_of
from app.services.storage.strategies import StorageConfig
from app.services.usage.service import UsageRecord
from tests.support.apps import login_headers, make_app

WRITE_BEHIND = StorageConfig(primary_storage="redis", enable_cache=False,
                             read_strategy="database_first", write_strategy="write_behind")


def totals(services, key_id):
    key = services.keys.get(key_id)
    return key.total_requests, key.total_tokens, key.total_cost


@pytest.fixture
def services(pg_app):
    return services_of(pg_app)


def test_usage_is_queued_under_write_behind_and_stored_by_the_worker(pg_app, services):
    key = services.keys.create({"name": "metered"})
    headers = login_headers(pg_app)
    client = pg_app.test_client()
    services.storage.switch("usage", WRITE_BEHIND)
    for _ in range(3):
        answer = client.post(f"/api/keys/{key.id}/usage", headers=headers, json={
            "model": "m", "inputTokens": 10, "outputTokens": 5, "cost": "0.001"})
        assert answer.status_code == 201 and answer.json["data"]["queued"] is True
    assert totals(services, key.id) == (0, 0, Decimal(0))
    result = services.usage_queue.drain_once("worker-1")
    assert result.recorded == 3 and services.usage_queue.pending() == 0
    assert totals(services, key.id) == (3, 45, Decimal("0.003"))
    assert services.cache.client.xlen(services.usage_queue.stream) == 0


def test_write_through_stores_at_once(pg_app, services):
    key = services.keys.create({"name": "direct"})
    answer = services.usage_writer.record(UsageRecord(api_key_id=key.id, model="m",
                                                      input_tokens=1))
    assert answer == {"recorded": True, "queued": False}
    assert totals(services, key.id)[0] == 1


def test_a_record_delivered_twice_is_stored_once(services):
    key = services.keys.create({"name": "twice"})
    record = UsageRecord(api_key_id=key.id, model="m", input_tokens=7, request_id="req-1")
    services.usage_queue.enqueue(record)
    services.usage_queue.enqueue(record)
    result = services.usage_queue.drain_once("worker-1")
    assert (result.recorded, result.duplicates) == (1, 1)
    assert totals(services, key.id)[:2] == (1, 7)


def test_entries_of_a_dead_consumer_are_claimed_by_another(postgres_url, redis_server_url,
                                                           redis_prefix, tmp_path):
    app = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix, usage_claim_idle_ms=0)
    services = services_of(app)
    key = services.keys.create({"name": "orphaned"})
    queue = services.usage_queue
    queue.enqueue(UsageRecord(api_key_id=key.id, model="m", input_tokens=3))
    # A consumer reads the entry and dies before storing it: the entry stays pending.
    queue.client.xreadgroup("usage-writers", "dead-worker", {queue.stream: ">"}, count=10)
    assert queue.pending() == 1 and totals(services, key.id)[0] == 0
    result = queue.drain_once("live-worker")
    assert result.recorded == 1 and queue.pending() == 0
    assert totals(services, key.id)[:2] == (1, 3)
    services.engine.dispose()


def test_a_record_the_database_refuses_goes_to_the_dead_letters(services):
    services.usage_queue.enqueue(UsageRecord(api_key_id="no-such-key", model="m"))
    result = services.usage_queue.drain_once("worker-1")
    assert result.dead == 1 and services.usage_queue.pending() == 0
    assert services.cache.client.xlen(services.usage_queue.dead_letters) == 1


def test_an_unknown_key_is_refused_before_queueing(pg_app, services):
    services.storage.switch("usage", WRITE_BEHIND)
    response = pg_app.test_client().post("/api/keys/nope/usage", headers=login_headers(pg_app),
                                         json={"model": "m"})
    assert response.status_code == 404
    assert services.cache.client.xlen(services.usage_queue.stream) == 0


def test_the_drain_usage_command_stores_what_is_queued(pg_app, services):
    key = services.keys.create({"name": "cli"})
    services.usage_queue.enqueue(UsageRecord(api_key_id=key.id, model="m", output_tokens=2))
    result = pg_app.test_cli_runner().invoke(args=["drain-usage", "--once",
                                                   "--consumer", "cli-test"])
    assert result.exit_code == 0, result.output
    assert "stored 1" in result.output
    assert totals(services, key.id)[:2] == (1, 2)


def test_the_drain_usage_command_run_once_leaves_its_processs_collector_alone(pg_app, services):
    """A long-running drain settles its garbage collector (app/collector.py); one pass, run
    inside another program (here pytest's process), freezes nothing and keeps its thresholds."""
    before = (gc.get_threshold(), gc.get_freeze_count())
    result = pg_app.test_cli_runner().invoke(args=["drain-usage", "--once",
                                                   "--consumer", "cli-once"])
    assert result.exit_code == 0, result.output
    assert services.settings.gc_threshold is not None  # the setting would settle it otherwise
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_batch_holding_a_record_of_an_unknown_key_stores_the_others_once(services):
    key = services.keys.create({"name": "neighbour"})
    for number, key_id in enumerate((key.id, "no-such-key", key.id)):
        services.usage_queue.enqueue(UsageRecord(api_key_id=key_id, model="m", input_tokens=4,
                                                 request_id=f"req-{number}"))
    result = services.usage_queue.drain_once("worker-1")
    assert (result.recorded, result.dead, result.left_pending) == (2, 1, 0)
    assert services.usage_queue.pending() == 0
    assert services.cache.client.xlen(services.usage_queue.dead_letters) == 1
    assert totals(services, key.id)[:2] == (2, 8)

"""The usage path outlives what Redis does: the drain worker rides out a restart and a flush,
and a stream lost with Redis is reported with the number of records it held."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from app import services_of
from app.services.usage.drain import DrainWorker
from app.services.usage.service import UsageRecord
from tests.support.apps import login_headers, make_app
from tests.support.http import ROOT
from tests.support.servers import PrivateRedis
from tests.support.webhooks import WebhookReceiver


def eventually(check, timeout: float = 20.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def stored_requests(services, key_id: str) -> int:
    return services.keys.get(key_id).total_requests


def enqueue(queue, key_id: str, count: int) -> None:
    """Queue `count` records, riding out the stale connections a restart leaves in the pool."""
    for _ in range(count):
        for _attempt in range(50):
            try:
                queue.enqueue(UsageRecord(api_key_id=key_id, model="m", input_tokens=1))
                break
            except redis.ConnectionError:
                queue.lost_connection()
                time.sleep(0.05)
        else:
            raise AssertionError("Redis did not come back")


@pytest.fixture
def aof_redis(tmp_path):
    (tmp_path / "aof").mkdir()
    server = PrivateRedis(aof_dir=tmp_path / "aof").start()
    yield server
    server.stop()


@pytest.fixture
def queue_app(postgres_url, aof_redis, redis_prefix, tmp_path):
    application = make_app(tmp_path, postgres_url, aof_redis.url, redis_prefix)
    yield application
    services_of(application).engine.dispose()


@pytest.fixture
def drain_process(postgres_url, aof_redis, redis_prefix, tmp_path):
    """`flask drain-usage` as gunicorn's master starts it, on the private Redis."""
    env = {**os.environ, "DATABASE_URL": postgres_url, "REDIS_URL": aof_redis.url,
           "RELAYGATE_REDIS_PREFIX": redis_prefix, "RELAYGATE_SECRET_KEY": "drain-test-secret",
           "RELAYGATE_INSTANCE_DIR": str(tmp_path)}
    log_path = tmp_path / "drain.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi",
                                    "drain-usage", "--idle-sleep", "0.05"],
                                   cwd=ROOT, env=env, stdout=log, stderr=log)
    yield process
    if process.poll() is None:
        process.terminate()
        process.wait(30)


def test_the_drain_worker_keeps_running_through_a_redis_restart_and_stores_everything(
        queue_app, aof_redis, drain_process):
    services = services_of(queue_app)
    key = services.keys.create({"name": "restart"})
    enqueue(services.usage_queue, key.id, 3)
    assert eventually(lambda: stored_requests(services, key.id) == 3)
    # Down longer than redis-py's own retries last, so the drain meets connection errors.
    aof_redis.restart(down_seconds=3)
    enqueue(services.usage_queue, key.id, 4)
    assert eventually(lambda: stored_requests(services, key.id) == 7), \
        "the records queued after the restart were not stored"
    assert drain_process.poll() is None, "the drain worker exited"


def test_the_drain_worker_recreates_a_vanished_group_and_stores_what_is_queued_after(
        queue_app, aof_redis, drain_process):
    services = services_of(queue_app)
    key = services.keys.create({"name": "flushed"})
    enqueue(services.usage_queue, key.id, 2)
    assert eventually(lambda: stored_requests(services, key.id) == 2)
    services.cache.client.flushall()  # the private server: only this test's data
    enqueue(services.usage_queue, key.id, 5)  # XADD makes a stream without the group
    assert eventually(lambda: stored_requests(services, key.id) == 7), \
        "the records queued after the flush were not stored (NOGROUP)"
    assert drain_process.poll() is None, "the drain worker exited"
    services.cache.client.delete(services.usage_queue.stream)
    enqueue(services.usage_queue, key.id, 1)
    assert eventually(lambda: stored_requests(services, key.id) == 8)


def test_a_flushed_usage_stream_is_reported_with_the_number_of_records_lost(
        queue_app, caplog):
    services = services_of(queue_app)
    queue = services.usage_queue
    key = services.keys.create({"name": "lost"})
    enqueue(queue, key.id, 2)
    assert queue.drain_once("worker-1").recorded == 2
    enqueue(queue, key.id, 4)  # queued, never drained
    services.cache.client.flushall()
    with caplog.at_level(logging.ERROR, logger="app.services.usage.ledger"):
        result = queue.drain_once("worker-1")
    assert result.recorded == 0
    assert "usage stream lost: 4 queued usage records" in caplog.text
    assert queue.ledger.totals() == {"queued": 6, "confirmed": 2, "lost": 4}
    # Reported once: the next drain finds nothing more missing.
    enqueue(queue, key.id, 1)
    assert queue.drain_once("worker-1").recorded == 1
    assert queue.ledger.totals()["lost"] == 4
    assert stored_requests(services, key.id) == 3


def scraped(text: str, name: str) -> float:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return families[name].samples[0].value


@pytest.fixture
def status_app(postgres_url, redis_server_url, redis_prefix, tmp_path):
    application = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix,
                           allow_private_webhooks=True)
    yield application
    services_of(application).engine.dispose()


def test_readyz_metrics_and_the_admin_metrics_show_the_backlog_its_age_and_the_drain(
        status_app):
    services = services_of(status_app)
    client, headers = status_app.test_client(), login_headers(status_app)
    key = services.keys.create({"name": "waiting"})
    enqueue(services.usage_queue, key.id, 3)
    time.sleep(1.0)

    ready = client.get("/readyz")
    assert ready.status_code == 200, "a backlog never makes the instance unready"
    queue = ready.json["data"]["usageQueue"]
    assert (queue["running"], queue["backlog"]) == (False, 3)
    assert queue["oldestPendingAge"] >= 1.0
    text = client.get("/metrics").get_data(as_text=True)
    assert scraped(text, "relaygate_usage_queue_backlog") == 3
    assert scraped(text, "relaygate_usage_queue_oldest_pending_age_seconds") >= 1.0
    assert scraped(text, "relaygate_usage_queue_drains_running") == 0
    admin = client.get("/api/admin/metrics", headers=headers).json["data"]["usageQueue"]
    assert (admin["configured"], admin["running"], admin["backlog"]) == (True, False, 3)
    assert admin["oldestPendingAge"] >= 1.0 and admin["lostRecords"] == 0

    with WebhookReceiver() as receiver:
        alert = client.post("/api/admin/alerts", headers=headers, json={
            "name": "usage backlog", "metric": "usageQueue.oldestPendingAge", "operator": ">",
            "threshold": 0.5, "duration": 0, "webhook": receiver.url})
        assert alert.status_code == 201, alert.json
        fired = services.alerts.evaluate_once()
        assert [event["event"] for event in fired["events"]] == ["fired"]
        assert [d["json"]["event"] for d in receiver.received] == ["alert.fired"]

    stopping = threading.Event()
    worker = DrainWorker(queue=services.usage_queue, consumer="status-test", idle_sleep=0.05)
    thread = threading.Thread(target=worker.run, args=(stopping,))
    thread.start()
    try:
        assert eventually(lambda: stored_requests(services, key.id) == 3)
        queue = client.get("/readyz").json["data"]["usageQueue"]
        assert (queue["running"], queue["drains"], queue["backlog"]) == (True, 1, 0)
        assert queue["oldestPendingAge"] is None
        text = client.get("/metrics").get_data(as_text=True)
        assert scraped(text, "relaygate_usage_queue_drains_running") == 1
        assert scraped(text, "relaygate_usage_queue_backlog") == 0
    finally:
        stopping.set()
        thread.join(20)
    assert client.get("/readyz").json["data"]["usageQueue"]["running"] is False


def test_a_redis_without_persistence_is_warned_about_and_one_with_an_append_log_is_not(
        postgres_url, private_redis, aof_redis, redis_prefix, tmp_path, caplog):
    bare = make_app(tmp_path, postgres_url, private_redis.url, redis_prefix)
    logged = make_app(tmp_path, postgres_url, aof_redis.url, redis_prefix)
    try:
        with caplog.at_level(logging.WARNING, logger="app.services.usage.queue"):
            warning = services_of(bare).usage_queue.warn_without_persistence()
            assert services_of(logged).usage_queue.warn_without_persistence() is None
        assert "no persistence" in warning and "appendfsync everysec" in warning
        assert caplog.text.count("appendfsync everysec") == 1
    finally:
        services_of(bare).engine.dispose()
        services_of(logged).engine.dispose()

"""Alerts fire once after their duration, resolve, and reach a webhook signed and retried."""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from app import services_of
from tests.support.apps import login_headers, make_app
from tests.support.webhooks import WebhookReceiver


@pytest.fixture
def app_config(app_config):
    return {**app_config, "metrics_flush_seconds": 0, "allow_private_webhooks": True}


def make_errors(client, headers, count):
    for _ in range(count):
        assert client.get("/api/admin/alerts/missing", headers=headers).status_code == 404


def make_successes(client, headers, count):
    for _ in range(count):
        assert client.get("/api/admin/alerts", headers=headers).status_code == 200


def verify(delivery: dict, secret: str) -> bool:
    headers = delivery["headers"]
    signed = headers["X-Relaygate-Timestamp"].encode() + b"." + delivery["body"]
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Relaygate-Signature"], expected)


def test_an_alert_fires_once_after_its_duration_then_resolves_with_signed_retried_webhooks(
        app, client, admin_headers):
    alerts = services_of(app).alerts
    with WebhookReceiver(failures=1) as receiver:
        created = client.post("/api/admin/alerts", headers=admin_headers, json={
            "name": "errors", "metric": "errors.rate", "operator": ">", "threshold": 0.5,
            "duration": 60, "webhook": receiver.url})
        assert created.status_code == 201
        data = created.json["data"]
        alert_id, secret = data["alert"]["id"], data["webhookSecret"]
        make_errors(client, admin_headers, 6)
        t0 = datetime.now(UTC)
        assert alerts.evaluate_once(t0)["events"] == []
        assert alerts.get(alert_id).state == "pending"
        assert alerts.evaluate_once(t0 + timedelta(seconds=30))["events"] == []
        fired = alerts.evaluate_once(t0 + timedelta(seconds=61))
        assert [e["event"] for e in fired["events"]] == ["fired"] and fired["delivered"] == 0
        assert len(receiver.received) == 1  # answered 500: retried after a backoff
        assert alerts.evaluate_once(t0 + timedelta(seconds=62)) == {
            "evaluated": 1, "events": [], "delivered": 0}
        assert alerts.evaluate_once(t0 + timedelta(seconds=64))["delivered"] == 1
        make_successes(client, admin_headers, 40)
        resolved = alerts.evaluate_once(t0 + timedelta(seconds=70))
        assert [e["event"] for e in resolved["events"]] == ["resolved"]
        assert resolved["delivered"] == 1
    events = [d["json"]["event"] for d in receiver.received]
    assert events == ["alert.fired", "alert.fired", "alert.resolved"]
    assert all(verify(d, secret) for d in receiver.received)
    assert receiver.received[0]["body"] == receiver.received[1]["body"]
    assert receiver.received[0]["json"]["alert"]["metric"] == "errors.rate"
    assert receiver.received[0]["json"]["value"] > 0.5
    deliveries = client.get(f"/api/admin/alerts/{alert_id}/deliveries",
                            headers=admin_headers).json["data"]
    assert [(d["event"], d["status"], d["attempts"]) for d in deliveries] == [
        ("resolved", "delivered", 1), ("fired", "delivered", 2)]
    state = client.get(f"/api/admin/alerts/{alert_id}", headers=admin_headers).json["data"]
    assert state["state"] == "ok" and state["firedAt"] and state["resolvedAt"]


def test_two_evaluators_fire_an_alert_once(app_config, app, client, admin_headers, tmp_path):
    other = make_app(tmp_path, **app_config)
    client.post("/api/admin/alerts", headers=admin_headers, json={
        "metric": "errors.count", "operator": ">=", "threshold": 1, "duration": 0})
    make_errors(client, admin_headers, 2)
    now = datetime.now(UTC)
    first = services_of(app).alerts.evaluate_once(now)["events"]
    second = services_of(other).alerts.evaluate_once(now)["events"]
    assert len(first) + len(second) == 1
    services_of(other).engine.dispose()


def test_a_delivery_that_keeps_failing_is_given_up(app, client, admin_headers):
    alerts = services_of(app).alerts
    with WebhookReceiver(failures=100) as receiver:
        client.post("/api/admin/alerts", headers=admin_headers, json={
            "metric": "errors.count", "operator": ">=", "threshold": 1, "duration": 0,
            "webhook": receiver.url})
        make_errors(client, admin_headers, 1)
        now = datetime.now(UTC)
        for step in range(alerts.max_attempts + 2):
            alerts.evaluate_once(now + timedelta(seconds=400 * step))
    assert len(receiver.received) == alerts.max_attempts
    [alert] = alerts.list()
    [delivery] = alerts.deliveries(alert.id)
    assert delivery.status == "failed" and delivery.last_status_code == 500


@pytest.mark.parametrize("webhook", [
    "http://127.0.0.1:9/x", "http://10.1.2.3/hook", "http://[::1]/hook",
    "http://169.254.169.254/latest", "https://192.168.0.10/", "http://0.0.0.0/"])
def test_private_and_loopback_webhooks_are_refused_unless_allowed(backend, request, tmp_path,
                                                                  webhook):
    config = request.getfixturevalue("app_config")
    strict = make_app(tmp_path, **{**config, "allow_private_webhooks": False})
    client, headers = strict.test_client(), login_headers(strict)
    response = client.post("/api/admin/alerts", headers=headers, json={
        "metric": "errors.rate", "operator": ">", "threshold": 0.1, "duration": 0,
        "webhook": webhook})
    assert response.status_code == 422
    assert "webhook" in response.json["error"]["details"]
    assert client.get("/api/admin/alerts", headers=headers).json["data"] == []
    services_of(strict).engine.dispose()


def test_bad_alerts_are_refused_and_alerts_can_be_listed_and_deleted(client, admin_headers):
    for body in ({"metric": "cache.nothing", "operator": ">", "threshold": 1, "duration": 0},
                 {"metric": "cache.hitRate", "operator": "!=", "threshold": 1, "duration": 0},
                 {"metric": "cache.hitRate", "operator": "<", "threshold": 1, "duration": -1},
                 {"metric": "cache.hitRate", "operator": "<", "threshold": 1, "duration": 0,
                  "webhook": "ftp://example.com/x"}):
        response = client.post("/api/admin/alerts", headers=admin_headers, json=body)
        assert response.status_code == 422, body
    assert client.get("/api/admin/alerts", headers=admin_headers).json["data"] == []
    made = client.post("/api/admin/alerts", headers=admin_headers, json={
        "metric": "errors.types.DB_RECORD_NOT_FOUND", "operator": ">", "threshold": 3,
        "duration": 10}).json["data"]
    assert made["webhookSecret"] is None and made["alert"]["state"] == "ok"
    listed = client.get("/api/admin/alerts", headers=admin_headers).json["data"]
    assert [a["id"] for a in listed] == [made["alert"]["id"]]
    path = f"/api/admin/alerts/{made['alert']['id']}"
    assert client.delete(path, headers=admin_headers).status_code == 200
    assert client.get(path, headers=admin_headers).status_code == 404
    assert client.delete(path, headers=admin_headers).status_code == 404


def test_the_run_alerts_command_evaluates_once(app, admin_headers):
    services_of(app).alerts.create(metric="errors.count", operator=">=",
                                   threshold=0, duration=0)
    result = app.test_cli_runner().invoke(args=["run-alerts", "--once"])
    assert result.exit_code == 0, result.output
    assert " fired at " in result.output
    [alert] = services_of(app).alerts.list()
    assert alert.state == "firing"

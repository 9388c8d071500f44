"""AlertService: setPerformanceAlert and the rest of an alert's life.

`evaluate_once(now)` reads the metrics over the alert window, moves each alert's state
(compare-and-set, so of two evaluators only one fires it) and, in the same transaction, writes
the webhook delivery it owes. `deliver_due(now)` then POSTs what is due, signed, and schedules a
retry with exponential backoff when the receiver fails, until `max_attempts`.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Unpack

from app.db.models import Alert, AlertDelivery
from app.errors import InvalidInput, RecordNotFound
from app.services.alerts import rules
from app.services.alerts.webhooks import WebhookRefused, WebhookSender, check_url, signature
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

BACKOFF_BASE_SECONDS = 2
BACKOFF_MAX_SECONDS = 300



class AlertService(Service):
    def __init__(self, *, metrics: Callable[[str], dict], sender: WebhookSender, secret_key: str,
                 window: str = "5m", max_attempts: int = 6, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics
        self.sender = sender
        self.secret_key = secret_key
        self.window = window
        self.max_attempts = max_attempts

    def webhook_secret(self, alert_id: str) -> str:
        """Derived from the master secret, so no webhook secret is stored anywhere."""
        return hmac.new(self.secret_key.encode(), f"alert-webhook:{alert_id}".encode(),
                        hashlib.sha256).hexdigest()

    @db_retry
    def create(self, *, metric: str, threshold: float, operator: str, duration: int,
               webhook: str | None = None, name: str | None = None) -> dict:
        """setPerformanceAlert; the answer carries the webhook's signing secret, once."""
        if not rules.is_metric(metric):
            raise InvalidInput("Unknown metric.", details={"metric": [
                f"Must be one of {', '.join(rules.METRIC_PATHS)} or errors.types.<CODE>."]})
        if webhook:
            try:
                check_url(webhook, allow_private=self.sender.allow_private)
            except WebhookRefused as error:
                raise InvalidInput(str(error), details={"webhook": [str(error)]}) from error
        alert = Alert(name=name, metric=metric, threshold=threshold, operator=operator,
                      duration=duration, webhook=webhook, state="ok", created_at=self.clock())
        with self.uow() as uow:
            uow.alerts.add(alert)
            uow.commit()
        return {"alert": alert,
                "webhook_secret": self.webhook_secret(alert.id) if webhook else None}

    @db_retry
    def list(self) -> list[Alert]:
        with self.uow() as uow:
            return uow.alerts.list_all()

    @db_retry
    def get(self, alert_id: str) -> Alert:
        with self.uow() as uow:
            alert = uow.alerts.get(alert_id)
        if alert is None:
            raise RecordNotFound("alert")
        return alert

    @db_retry
    def deliveries(self, alert_id: str) -> builtins.list[AlertDelivery]:
        with self.uow() as uow:
            if uow.alerts.get(alert_id) is None:
                raise RecordNotFound("alert")
            return uow.alert_deliveries.list_for_alert(alert_id)

    @db_retry
    def delete(self, alert_id: str) -> None:
        with self.uow() as uow:
            alert = uow.alerts.get(alert_id)
            if alert is None:
                raise RecordNotFound("alert")
            uow.alerts.delete(alert)
            uow.commit()

    def evaluate_once(self, now=None) -> dict:
        """One evaluation of every alert, then the webhook deliveries that are due."""
        now = now or self.clock()
        metrics = self.metrics(self.window)
        alerts = self.list()
        events = [event for alert in alerts
                  if (event := self._evaluate(alert, metrics, now)) is not None]
        return {"evaluated": len(alerts), "events": events, "delivered": self.deliver_due(now)}

    @db_retry
    def _evaluate(self, alert: Alert, metrics: dict, now) -> dict | None:
        value = rules.value_of(metrics, alert.metric)
        condition = rules.holds(value, alert.operator, alert.threshold)
        state, since, event = rules.step(alert.state, alert.pending_since, condition,
                                         alert.duration, now)
        values = {"state": state, "pending_since": since, "last_value": value,
                  "last_evaluated_at": now}
        if event == "fired":
            values["fired_at"] = now
        elif event == "resolved":
            values["resolved_at"] = now
        with self.uow() as uow:
            if not uow.alerts.transition(alert.id, expected_state=alert.state, values=values):
                return None  # another evaluator moved it first
            if event and alert.webhook:
                uow.alert_deliveries.add(AlertDelivery(
                    alert_id=alert.id, event=event, status="pending", attempts=0,
                    next_attempt_at=now, created_at=now,
                    payload=self._payload(alert, event, value, now)))
            uow.commit()
        return {"alert_id": alert.id, "event": event, "value": value} if event else None

    def deliver_due(self, now=None) -> int:
        """POST every delivery that is due; answers how many were delivered."""
        now = now or self.clock()
        delivered = 0
        with self.uow() as uow:
            due = uow.alert_deliveries.list_due(now)
        for delivery, alert in due:
            if not self._claim(delivery.id, now):
                continue
            body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
            timestamp = int(now.timestamp())
            # An alert without a webhook queues no delivery; "" would be refused, not sent.
            attempt = self.sender.post(alert.webhook or "", body, {
                "X-Relaygate-Event": f"alert.{delivery.event}",
                "X-Relaygate-Delivery": str(delivery.id),
                "X-Relaygate-Timestamp": str(timestamp),
                "X-Relaygate-Signature": signature(self.webhook_secret(alert.id), timestamp,
                                                   body)})
            self._record(delivery.id, attempt, now)
            delivered += attempt.ok
        return delivered

    @db_retry
    def _claim(self, delivery_id: int, now) -> bool:
        lease = now + timedelta(seconds=self.sender.timeout + 30)
        with self.uow() as uow:
            claimed = uow.alert_deliveries.claim(delivery_id, due_by=now, lease_until=lease)
            uow.commit()
        return claimed

    @db_retry
    def _record(self, delivery_id: int, attempt, now) -> None:
        with self.uow() as uow:
            delivery = uow.alert_deliveries.get(delivery_id)
            if delivery is None:
                return  # its alert was deleted meanwhile
            delivery.attempts += 1
            delivery.last_status_code = attempt.status_code
            delivery.last_error = attempt.error
            if attempt.ok:
                delivery.status, delivery.delivered_at = "delivered", now
                delivery.next_attempt_at = None
            elif delivery.attempts >= self.max_attempts:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delay = min(BACKOFF_BASE_SECONDS * 2 ** (delivery.attempts - 1),
                            BACKOFF_MAX_SECONDS)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            uow.commit()

    @staticmethod
    def _payload(alert: Alert, event: str, value: float | None, now) -> dict:
        return {"event": f"alert.{event}", "at": now.isoformat(), "value": value,
                "alert": {"id": alert.id, "name": alert.name, "metric": alert.metric,
                          "operator": alert.operator, "threshold": alert.threshold,
                          "duration": alert.duration}}

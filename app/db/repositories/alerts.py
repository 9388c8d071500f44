"""Alerts and their webhook deliveries; state changes are compare-and-set."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from app.db.models import Alert, AlertDelivery
from app.db.repositories.base import Repository


class AlertRepository(Repository[Alert]):
    model = Alert

    def list_all(self) -> list[Alert]:
        return list(self.session.scalars(select(Alert).order_by(Alert.created_at, Alert.id)))

    def transition(self, alert_id: str, *, expected_state: str, values: dict) -> bool:
        """Apply `values` only if the alert is still in `expected_state`: of two evaluators,
        one moves it (and owes the webhook), the other sees no row changed."""
        result = self._execute(
            update(Alert).where(Alert.id == alert_id, Alert.state == expected_state)
            .values(**values).execution_options(synchronize_session=False))
        return result.rowcount == 1


class AlertDeliveryRepository(Repository[AlertDelivery]):
    model = AlertDelivery

    def list_for_alert(self, alert_id: str, limit: int = 50) -> list[AlertDelivery]:
        return list(self.session.scalars(
            select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)
            .order_by(AlertDelivery.id.desc()).limit(limit)))

    def list_due(self, now: datetime, limit: int = 50) -> list[tuple[AlertDelivery, Alert]]:
        query = (select(AlertDelivery, Alert).join(Alert, Alert.id == AlertDelivery.alert_id)
                 .where(AlertDelivery.status == "pending",
                        or_(AlertDelivery.next_attempt_at.is_(None),
                            AlertDelivery.next_attempt_at <= now))
                 .order_by(AlertDelivery.id).limit(limit))
        return [(delivery, alert) for delivery, alert in self.session.execute(query)]

    def claim(self, delivery_id: int, *, due_by: datetime, lease_until: datetime) -> bool:
        """Take a due delivery for one sender until `lease_until`, so no one else sends it."""
        result = self._execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "pending",
                   or_(AlertDelivery.next_attempt_at.is_(None),
                       AlertDelivery.next_attempt_at <= due_by))
            .values(next_attempt_at=lease_until).execution_options(synchronize_session=False))
        return result.rowcount == 1

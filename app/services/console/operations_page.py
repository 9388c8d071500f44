"""OperationsView: the console's operations page, composed from the operations services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.cache import CacheError
from app.errors import DomainError
from app.services.storage.strategies import DATA_TYPES

if TYPE_CHECKING:
    from app.services.alerts.service import AlertService
    from app.services.storage.health_report import StorageHealthService
    from app.services.storage.service import StorageService
    from app.services.usage.queue import UsageQueue


class OperationsView:
    def __init__(self, *, storage_health: StorageHealthService, storage: StorageService,
                 alerts: AlertService, usage_queue: UsageQueue | None) -> None:
        self.storage_health = storage_health
        self.storage = storage
        self.alerts = alerts
        self.usage_queue = usage_queue

    def overview(self) -> dict:
        """Storage health, each data type's strategy, the alerts with their latest deliveries,
        and the usage queue's backlog (None when usage is written directly, without Redis)."""
        alerts = []
        for alert in self.alerts.list():
            deliveries = self.alerts.deliveries(alert.id)
            alerts.append({"alert": alert, "deliveries": deliveries[:5]})
        return {
            "health": self.storage_health.check(),
            "strategies": [{"data_type": data_type, **self.storage.get(data_type)}
                           for data_type in DATA_TYPES],
            "alerts": alerts,
            "queue": self._queue(),
        }

    def _queue(self) -> dict | None:
        if self.usage_queue is None:
            return None
        try:
            return self.usage_queue.backlog()
        except (DomainError, CacheError) as error:
            return {"error": str(error)}

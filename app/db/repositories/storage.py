"""Storage strategies: read them all, and replace one while raising its version atomically."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from app.db.models import StorageStrategy
from app.db.repositories.base import Repository


class StorageStrategyRepository(Repository[StorageStrategy]):
    model = StorageStrategy

    def list_all(self) -> list[StorageStrategy]:
        return list(self.session.scalars(select(StorageStrategy)))

    def version(self) -> int:
        """Raised by one on every switch: a worker holding another number must reload."""
        return int(self.session.execute(
            select(func.coalesce(func.sum(StorageStrategy.version), 0))).scalar_one())

    def replace(self, data_type: str, values: dict, now: datetime) -> bool:
        result = self._execute(
            update(StorageStrategy)
            .where(StorageStrategy.data_type == data_type)
            .values(**values, version=StorageStrategy.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

"""Raw usage events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from app.db.models import UsageEvent
from app.db.repositories.base import Repository


class UsageEventRepository(Repository[UsageEvent]):
    model = UsageEvent

    def get_by_request_id(self, request_id: str) -> UsageEvent | None:
        return self.session.scalar(select(UsageEvent).where(UsageEvent.request_id == request_id))

    def cost_since(self, api_key_id: str, since: datetime) -> Decimal:
        # SUM keeps the column's Money type, so the result comes back an exact Decimal.
        total = self.session.scalar(
            select(func.sum(UsageEvent.cost))
            .where(UsageEvent.api_key_id == api_key_id, UsageEvent.occurred_at >= since))
        return total if total is not None else Decimal(0)

    def list_for_key(self, api_key_id: str, limit: int = 100) -> list[UsageEvent]:
        query = (
            select(UsageEvent)
            .where(UsageEvent.api_key_id == api_key_id)
            .order_by(UsageEvent.occurred_at.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))

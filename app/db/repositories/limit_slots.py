"""Limit slots: count the live ones in a bucket, add, remove."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from app.db.models import LimitSlot
from app.db.repositories.base import Repository


class LimitSlotRepository(Repository[LimitSlot]):
    model = LimitSlot

    def drop_expired(self, bucket: str, now: datetime) -> None:
        self.session.execute(
            delete(LimitSlot).where(LimitSlot.bucket == bucket, LimitSlot.expires_at <= now))

    def live(self, bucket: str, now: datetime) -> tuple[int, datetime | None]:
        """How many slots are taken, and when the first of them frees itself."""
        count, first = self.session.execute(
            select(func.count(), func.min(LimitSlot.expires_at))
            .where(LimitSlot.bucket == bucket, LimitSlot.expires_at > now)).one()
        return count, first

    def remove(self, slot_id: str) -> None:
        self.session.execute(delete(LimitSlot).where(LimitSlot.id == slot_id))

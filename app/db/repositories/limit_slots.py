"""Limit slots (count the live ones in a bucket, add, remove) and key window holds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select

from app.db.models import KeyWindowHold, LimitSlot
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


class KeyWindowHoldRepository(Repository[KeyWindowHold]):
    model = KeyWindowHold

    def live(self, api_key_id: str, now: datetime) -> tuple[int, int, Decimal]:
        """(requests, tokens, cost) held by the key's requests in flight; expired ones are
        dropped first."""
        self.session.execute(delete(KeyWindowHold).where(
            KeyWindowHold.api_key_id == api_key_id, KeyWindowHold.expires_at <= now))
        count, tokens, cost = self.session.execute(
            select(func.count(), func.sum(KeyWindowHold.tokens), func.sum(KeyWindowHold.cost))
            .where(KeyWindowHold.api_key_id == api_key_id)).one()
        return count, int(tokens or 0), cost if cost is not None else Decimal(0)

    def remove(self, hold_id: str) -> bool:
        return self._execute(
            delete(KeyWindowHold).where(KeyWindowHold.id == hold_id)).rowcount == 1

"""Slots of per-key limits (concurrent requests, requests per minute) when Redis is not there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_id


class LimitSlot(Base):
    __tablename__ = "limit_slots"

    id: Mapped[str_id]
    # e.g. 'rpm:<key id>' or 'concurrency:<key id>'
    bucket: Mapped[str] = mapped_column(String(80), index=True)
    # A slot frees itself when this passes (a dead worker's lease, a minute-old request).
    expires_at: Mapped[datetime] = mapped_column(index=True)

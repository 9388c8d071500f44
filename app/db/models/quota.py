"""Quota counters per subject, model type and period; reservations; idempotent updates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, counter, one_of, str_id, timestamp

RESERVATION_STATES = ("held", "committed", "cancelled", "expired")


class UsageCounter(Base):
    """Uses in one period. `version` grows on every change, so Redis keeps only the newest."""

    __tablename__ = "usage_counters"

    # 'user:<user id>' or 'key:<api key id>' (a key without an owner is its own subject).
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    used: Mapped[counter]
    version: Mapped[counter]


class UsageReservation(Base):
    """One unit taken ahead of a use; committed, cancelled, or given back when it expires."""

    __tablename__ = "usage_reservations"
    __table_args__ = (
        CheckConstraint(one_of("state", RESERVATION_STATES), name="state"),
        Index("ix_usage_reservations_subject_state_expires_at", "subject", "state", "expires_at"),
    )

    id: Mapped[str_id]
    subject: Mapped[str] = mapped_column(String(64))
    model_type: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[datetime]
    units: Mapped[int] = mapped_column(Integer, default=1)
    credits_spent: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="held")
    expires_at: Mapped[datetime]
    created_at: Mapped[timestamp]
    settled_at: Mapped[datetime | None]


class UsageIdempotencyKey(Base):
    """An update made with an Idempotency-Key: a retry with the same key counts once."""

    __tablename__ = "usage_idempotency_keys"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    units: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[timestamp] = mapped_column(index=True)

"""Performance alerts and the record of every webhook delivery they caused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_id, timestamp


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[str_id]
    name: Mapped[str | None] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(100))
    operator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    duration: Mapped[int] = mapped_column(Integer)
    webhook: Mapped[str | None] = mapped_column(String(2000))
    # 'ok' -> 'pending' (condition holds, not yet for `duration`) -> 'firing' -> 'ok'
    state: Mapped[str] = mapped_column(String(16), default="ok", server_default="ok")
    pending_since: Mapped[datetime | None]
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_value: Mapped[float | None] = mapped_column(Float)
    last_evaluated_at: Mapped[datetime | None]
    created_at: Mapped[timestamp]


class AlertDelivery(Base):
    """A webhook POST owed for one alert event: written with the state change, sent after."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))  # 'fired' | 'resolved'
    payload: Mapped[dict] = mapped_column(JSON)
    # 'pending' (to send, at next_attempt_at) | 'delivered' | 'failed' (gave up)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]
    delivered_at: Mapped[datetime | None]

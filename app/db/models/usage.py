"""Raw usage events: one row per recorded request (or batch of requests)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, counter, money, timestamp


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_api_key_id_occurred_at", "api_key_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    account_id: Mapped[str | None] = mapped_column(String(36))
    account_type: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(200))
    input_tokens: Mapped[counter]
    output_tokens: Mapped[counter]
    cache_write_tokens: Mapped[counter]
    cache_read_tokens: Mapped[counter]
    total_tokens: Mapped[counter]
    cost: Mapped[money]
    request_count: Mapped[int] = mapped_column(Integer, default=1)
    # Makes a record idempotent: a retried request with the same id is stored once.
    request_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[timestamp]

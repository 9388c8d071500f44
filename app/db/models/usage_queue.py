"""The usage queue's ledger: records queued and confirmed per instance, kept outside Redis."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class UsageQueueLedger(Base):
    """Running totals of one instance (host): what it queued, what a drain confirmed stored,
    and what was found
    lost. Only ever changed by adding, in one statement."""

    __tablename__ = "usage_queue_ledger"

    instance: Mapped[str] = mapped_column(String(200), primary_key=True)
    queued: Mapped[int] = mapped_column(BigInteger, default=0)
    confirmed: Mapped[int] = mapped_column(BigInteger, default=0)
    lost: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]

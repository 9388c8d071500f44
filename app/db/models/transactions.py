"""Staged transactions: operations kept until a commit applies them in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_id, timestamp


class StagedTransaction(Base):
    __tablename__ = "staged_transactions"

    id: Mapped[str_id]
    isolation_level: Mapped[str] = mapped_column(String(16))
    read_only: Mapped[bool]
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    # 'open' | 'committed' | 'rolled_back' | 'failed' | 'expired'
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    # Raised atomically by each staged operation; it is also the operation's position.
    operation_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[timestamp]
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class StagedOperation(Base):
    __tablename__ = "staged_operations"

    transaction_id: Mapped[str] = mapped_column(
        ForeignKey("staged_transactions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    table_name: Mapped[str] = mapped_column(String(32))
    # The operation as validated, encoded so decimals and datetimes come back exact, then
    # sealed: it may carry an upstream API key, OAuth tokens or a proxy password.
    data_sealed: Mapped[str] = mapped_column(Text)
    row_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[timestamp]

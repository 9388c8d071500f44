"""Slots and holds of per-key limits (concurrency, requests per minute, windows) without Redis."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, money, str_id


class LimitSlot(Base):
    __tablename__ = "limit_slots"

    id: Mapped[str_id]
    # e.g. 'rpm:<key id>' or 'concurrency:<key id>'
    bucket: Mapped[str] = mapped_column(String(80), index=True)
    # A slot frees itself when this passes (a dead worker's lease, a minute-old request).
    expires_at: Mapped[datetime] = mapped_column(index=True)


class KeyWindowHold(Base):
    """What a request in flight is expected to use, counted by its key's window limits until
    its usage is stored (in the same transaction) or it ends without any; used without Redis."""

    __tablename__ = "key_window_holds"

    id: Mapped[str_id]
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"),
                                            index=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[money]
    # A hold whose request died counts until this passes.
    expires_at: Mapped[datetime] = mapped_column(index=True)

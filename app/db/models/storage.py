"""The storage strategy of each data type (section 5 of docs/design/data-access-layer.md)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, timestamp


class StorageStrategy(Base):
    __tablename__ = "storage_strategies"

    # 'apikey' | 'account' | 'usage' | 'session'
    data_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    primary_storage: Mapped[str] = mapped_column(String(16))
    enable_cache: Mapped[bool]
    # None: the deployment's default (RELAYGATE_CACHE_TTL).
    cache_ttl: Mapped[int | None] = mapped_column(Integer)
    read_strategy: Mapped[str] = mapped_column(String(16))
    write_strategy: Mapped[str] = mapped_column(String(16))
    # Raised by one on every switch, atomically: the sum over rows tells workers to reload.
    version: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    updated_at: Mapped[timestamp]

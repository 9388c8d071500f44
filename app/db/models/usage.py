"""Raw usage events: one row per recorded request (or batch of requests).

On PostgreSQL the table is range-partitioned by month of `occurred_at` (migration 0004), so its
primary key there is (id, occurred_at) and old months are dropped whole by the cleanup. There is no
foreign key to api_keys: keys are never hard-deleted, the recorder checks the key in the same
transaction, and a foreign key would make every partition drop lock api_keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, counter, money, timestamp


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_api_key_id_occurred_at", "api_key_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(36))
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
    # Idempotency is enforced by usage_request_ids: a partitioned table cannot hold a unique
    # index that leaves out the partition key.
    request_id: Mapped[str | None] = mapped_column(String(128))
    # Who reported the use: "relay" (the gateway's own answer), "client" (a key holder's own
    # report, which only ever adds to its key) or "admin" (a backfill).
    source: Mapped[str] = mapped_column(String(16), default="relay", server_default="relay")
    # True when the provider reported no usage and the tokens were estimated from the text.
    estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[timestamp]

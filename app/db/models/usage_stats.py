"""What usage statistics are answered from: request ids seen, and exact rollups."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, counter, money, timestamp

# Grain code -> the dimensions a rollup row of that grain keeps; the others hold ''.
# Every grain sums the same events, so reports pick the smallest grain that has the dimensions
# a query filters or groups by: per model or per account a month is a few thousand rows,
# where the full grain is nearly one row per event at low per-key rates.
ROLLUP_GRAINS = {
    "m": ("model",),
    "a": ("account_id",),
    "k": ("api_key_id",),
    "kma": ("api_key_id", "model", "account_id"),
}
# Rows per UTC hour (any zone with a whole-hour offset is cut exactly from them), and per UTC
# day (24 times fewer rows to read for long ranges whose buckets start at UTC midnight).
SPANS = ("hour", "day")
SUM_COLUMNS = ("requests", "input_tokens", "output_tokens", "cache_write_tokens",
               "cache_read_tokens", "total_tokens", "cost")


class UsageSums:
    """The summed columns (SUM_COLUMNS) of a rollup row and of a baseline row."""

    requests: Mapped[counter]
    input_tokens: Mapped[counter]
    output_tokens: Mapped[counter]
    cache_write_tokens: Mapped[counter]
    cache_read_tokens: Mapped[counter]
    total_tokens: Mapped[counter]
    cost: Mapped[money]


class UsageRequestId(Base):
    """A request id already recorded: what makes recording idempotent.

    Scoped by who reported the use (`source`: relay, client, admin) and by key, so the relay's
    own records are deduplicated only against the relay's, and one key's ids never collide
    with another's: nothing a caller sends can claim a record the gateway has yet to store.
    Kept as long as its raw event is; the cleanup removes both together.
    """

    __tablename__ = "usage_request_ids"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[timestamp]


class UsageRollup(UsageSums, Base):
    """Sums of usage events per UTC hour and per UTC day, at each grain of ROLLUP_GRAINS.

    Updated in the recording transaction by one upsert; never touched by the cleanup, so
    aggregates outlive the raw events.
    """

    __tablename__ = "usage_rollups"
    __table_args__ = (
        Index("ix_usage_rollups_span_grain_api_key_id_bucket", "span", "grain", "api_key_id",
              "bucket"),
        Index("ix_usage_rollups_span_grain_model_bucket", "span", "grain", "model", "bucket"),
        Index("ix_usage_rollups_span_grain_account_id_bucket", "span", "grain", "account_id",
              "bucket"),
    )

    span: Mapped[str] = mapped_column(String(4), primary_key=True)
    grain: Mapped[str] = mapped_column(String(4), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)

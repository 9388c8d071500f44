"""Usage brought from another gateway's aggregates: summed by the reports beside the rollups.

A row is what the source counted for one key and model, placed at one UTC hour (the start of
the finest bucket the source still held). Rows belong to their `source`, so an import replaces
its own rows and nothing else; the rollup rebuild and the raw-event cleanup never touch them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base
from app.db.models.usage_stats import UsageSums


class UsageBaseline(UsageSums, Base):
    __tablename__ = "usage_baselines"
    __table_args__ = (
        Index("ix_usage_baselines_api_key_id_bucket", "api_key_id", "bucket"),
        Index("ix_usage_baselines_bucket", "bucket"),
    )

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)

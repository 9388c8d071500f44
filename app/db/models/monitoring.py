"""Performance figures kept in the database when no Redis is configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class MetricBucket(Base):
    """One named sum over one time bucket of one resolution (seconds)."""

    __tablename__ = "metric_buckets"

    resolution: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)


class QueryStat(Base):
    """Running figures of one normalised SQL statement."""

    __tablename__ = "query_stats"

    fingerprint: Mapped[str] = mapped_column(String(40), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    call_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    max_ms: Mapped[float] = mapped_column(Float, default=0.0)
    last_executed: Mapped[datetime]

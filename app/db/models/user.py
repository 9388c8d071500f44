"""Users of the gateway, their plan and credits, and the limits of each plan."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, counter, one_of, str_id, timestamp
from app.vocabulary import MODEL_TYPES, PERIODS, PLANS


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(one_of("plan", PLANS), name="plan"),
        CheckConstraint("credits >= 0", name="credits_not_negative"),
    )

    id: Mapped[str_id]
    # Stored lower-cased, so the unique index is case-insensitive in effect.
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    plan: Mapped[str] = mapped_column(String(16), default="free", server_default="free")
    # One credit pays for one use past the plan's limit (premium plan only).
    credits: Mapped[counter]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]


class PlanLimit(Base):
    """How many uses of one model type a plan allows per period."""

    __tablename__ = "plan_limits"
    __table_args__ = (
        CheckConstraint(one_of("plan", PLANS), name="plan"),
        CheckConstraint(one_of("model_type", MODEL_TYPES), name="model_type"),
        CheckConstraint(one_of("period", PERIODS), name="period"),
        CheckConstraint("usage_limit >= 0", name="limit_not_negative"),
    )

    plan: Mapped[str] = mapped_column(String(16), primary_key=True)
    model_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    # "limit" is a reserved word in SQL; the column avoids it, the attribute does not.
    limit: Mapped[int] = mapped_column("usage_limit", BigInteger)
    period: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[timestamp]

"""The model catalogue: which upstream models exist, their tier and their prices."""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, money, one_of, timestamp
from app.vocabulary import MODEL_TYPES, PROVIDERS


class AiModel(Base):
    __tablename__ = "models"
    __table_args__ = (
        CheckConstraint(one_of("provider", PROVIDERS), name="provider"),
        CheckConstraint(one_of("model_type", MODEL_TYPES), name="model_type"),
    )

    # The public id, e.g. 'openai/gpt-4o'; `name` ('GPT-4o') is the older short form.
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    model_type: Mapped[str] = mapped_column(String(16))
    upstream_model: Mapped[str] = mapped_column(String(200))
    # More names clients may send for this model (e.g. 'claude-sonnet-4-5'); client routes only.
    aliases: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # USD per million tokens.
    input_price: Mapped[money]
    output_price: Mapped[money]
    cache_write_price: Mapped[money]
    # A cache write kept for an hour (Anthropic's 1h TTL); twice the input price for Claude.
    cache_write_1h_price: Mapped[money]
    cache_read_price: Mapped[money]
    context_window: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(default=True, server_default="1")
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]

"""Sessions of admins and of users; only the SHA-256 of a token is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_id, timestamp


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[str_id]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    user_type: Mapped[str] = mapped_column(String(16))
    session_data: Mapped[dict] = mapped_column(JSON, default=dict)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[timestamp]
    expires_at: Mapped[datetime] = mapped_column(index=True)

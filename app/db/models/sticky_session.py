"""Sticky sessions without Redis: which account serves a conversation of an API key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class StickySession(Base):
    __tablename__ = "sticky_sessions"

    api_key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # sha256 hex of the session key (app/services/chat/session_key.py).
    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36))
    # The binding is forgotten when this passes; every use moves it on.
    expires_at: Mapped[datetime] = mapped_column(index=True)

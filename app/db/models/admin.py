"""Administrators: people who log in to manage the gateway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_id, timestamp


class Admin(Base):
    __tablename__ = "admins"

    id: Mapped[str_id]
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[timestamp]
    last_login_at: Mapped[datetime | None]

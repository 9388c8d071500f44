"""Failed logins per client address and per username, when Redis is not there."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class LoginFailure(Base):
    """One counter: 'address:<ip>' or 'user:<sha256 of the username>'.

    Times are milliseconds since the epoch so that one portable UPDATE can do the arithmetic
    (window resets, doubling lockouts) on both PostgreSQL and SQLite.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_ends_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    last_failure_ms: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    locked_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    # The length of the next lockout: it doubles with each one, up to the maximum.
    next_lockout_ms: Mapped[int] = mapped_column(BigInteger, default=0)

"""Upstream provider accounts: the pool the gateway relays through.

Every secret column holds a value sealed by app.crypto (never plaintext); its name ends in
`_sealed` so that nobody mistakes it for the secret itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, counter, money, str_id, timestamp

CREDENTIAL_KINDS = ("oauth", "api_key")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (Index("ix_accounts_provider_status", "provider", "status"),)

    id: Mapped[str_id]
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))
    credential_kind: Mapped[str] = mapped_column(String(16))
    access_token_sealed: Mapped[str | None] = mapped_column(Text)
    refresh_token_sealed: Mapped[str | None] = mapped_column(Text)
    api_key_sealed: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    token_expires_at: Mapped[datetime | None]
    token_refreshed_at: Mapped[datetime | None]
    base_url: Mapped[str | None] = mapped_column(String(500))
    proxy_type: Mapped[str | None] = mapped_column(String(16))
    proxy_host: Mapped[str | None] = mapped_column(String(255))
    proxy_port: Mapped[int | None] = mapped_column(Integer)
    proxy_username: Mapped[str | None] = mapped_column(String(255))
    proxy_password_sealed: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=50, server_default="50")
    # None: no limit of our own.
    max_concurrency: Mapped[int | None] = mapped_column(Integer)
    # Served only to keys bound to it (or to a group holding it), never to an unbound key.
    dedicated: Mapped[bool] = mapped_column(default=False, server_default="0")
    # An OpenAI-compatible upstream that serves the Responses API too: Responses clients'
    # requests are relayed to it as sent rather than translated to chat completions.
    supports_responses: Mapped[bool] = mapped_column(default=False, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    error_message: Mapped[str | None] = mapped_column(Text)
    rate_limit_remaining: Mapped[int | None] = mapped_column(BigInteger)
    rate_limit_reset_at: Mapped[datetime | None]
    # 5xx answers and timeouts: counted, and past a threshold the account rests until this time.
    recent_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cooldown_until: Mapped[datetime | None]
    # The lock that keeps two workers from refreshing the same token when Redis is absent.
    refresh_lock_owner: Mapped[str | None] = mapped_column(String(36))
    refresh_locked_until: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
    total_requests: Mapped[counter]
    total_tokens: Mapped[counter]
    total_cost: Mapped[money]

    @property
    def is_oauth(self) -> bool:
        return self.credential_kind == "oauth"

    @property
    def has_proxy(self) -> bool:
        return self.proxy_type is not None


class AccountLease(Base):
    """One request's hold on an account's concurrency, when Redis is not there to hold it."""

    __tablename__ = "account_leases"

    id: Mapped[str_id]
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # A worker that dies holding a lease frees it when this passes.
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[timestamp]

"""API keys: only the hash of a key is stored; running usage totals live on the row."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, counter, money, str_id, timestamp
from app.db.models.account_group import ApiKeyBinding


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str_id]
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    hashed_key: Mapped[str] = mapped_column(String(64), unique=True)
    # 'sha256' (ours) or a marker for keys imported with another hashing scheme.
    hash_scheme: Mapped[str] = mapped_column(String(32), default="sha256", server_default="sha256")
    # 'all' or a comma list of providers, sorted: filtering stays a plain string match.
    permissions: Mapped[str] = mapped_column(String(64), default="all", server_default="all")
    token_limit: Mapped[int | None] = mapped_column(BigInteger)
    concurrency_limit: Mapped[int | None] = mapped_column(Integer)
    daily_cost_limit: Mapped[Decimal | None]
    requests_per_minute: Mapped[int | None] = mapped_column(Integer)
    # How much a key may spend (key_spend.py, key_windows.py); none means unlimited.
    total_cost_limit: Mapped[Decimal | None]
    weekly_cost_limit: Mapped[Decimal | None]
    # Numbered as claude-relay-service numbers them: 1 Monday .. 7 Sunday; hour 0-23, local.
    weekly_reset_day: Mapped[int | None] = mapped_column(SmallInteger)
    weekly_reset_hour: Mapped[int | None] = mapped_column(SmallInteger)
    # A glob of model ids the weekly limit counts and applies to; none: every model.
    weekly_cost_models: Mapped[str | None] = mapped_column(String(200))
    # IANA name or a UTC offset ('+08:00') of the daily and weekly periods; none: the global one.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # [{"window": minutes, "requests": n?, "tokens": n?, "cost": "USD"?}, ...]
    window_limits: Mapped[list | None] = mapped_column(JSON)
    expires_at: Mapped[datetime | None]
    # Model names or glob patterns (app/services/keys/permissions.py); [] means no restriction.
    allowed_models: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    denied_models: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # Client families or `ua:` patterns (app/services/keys/clients.py); [] means any client.
    allowed_clients: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # Expiry counted from the first admitted request: `activation_days` periods of
    # `activation_unit` ('days' or 'hours'); the first use sets activated_at and expires_at.
    activation_days: Mapped[int | None] = mapped_column(Integer)
    activation_unit: Mapped[str] = mapped_column(String(8), default="days",
                                                 server_default="days")
    activated_at: Mapped[datetime | None]
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True, server_default="1")
    is_deleted: Mapped[bool] = mapped_column(default=False, server_default="0")
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
    last_used_at: Mapped[datetime | None]
    total_requests: Mapped[counter]
    total_input_tokens: Mapped[counter]
    total_output_tokens: Mapped[counter]
    total_tokens: Mapped[counter]
    total_cost: Mapped[money]

    tag_rows: Mapped[list[ApiKeyTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ApiKeyTag.tag"
    )
    binding_rows: Mapped[list[ApiKeyBinding]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ApiKeyBinding.id"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    @property
    def account_bindings(self) -> list[dict]:
        return [{"accountId": row.account_id} if row.account_id else {"groupId": row.group_id}
                for row in self.binding_rows]


class ApiKeyTag(Base):
    __tablename__ = "api_key_tags"

    api_key_id: Mapped[str] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

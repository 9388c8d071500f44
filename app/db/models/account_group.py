"""Account groups (a named set of accounts of one provider) and an API key's account bindings.

A key bound to accounts or groups of a provider is served, for that provider, only by those
accounts (and the groups' members); a key with no binding for a provider is served by the
provider's accounts that are not `dedicated`.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, str_id, timestamp


class AccountGroup(Base):
    __tablename__ = "account_groups"

    id: Mapped[str_id]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]


class AccountGroupMember(Base):
    __tablename__ = "account_group_members"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("account_groups.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True)


class ApiKeyBinding(Base):
    """One account or one group a key is bound to. Deleting a bound account or group is
    refused (no cascade): a binding that vanished would widen the key to the shared pool."""

    __tablename__ = "api_key_bindings"
    __table_args__ = (CheckConstraint("(account_id IS NULL) <> (group_id IS NULL)",
                                      name="one_target"),)

    id: Mapped[str_id]
    api_key_id: Mapped[str] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    group_id: Mapped[str | None] = mapped_column(ForeignKey("account_groups.id"), index=True)

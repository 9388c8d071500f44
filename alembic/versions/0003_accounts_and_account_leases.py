"""Upstream accounts (secrets sealed by app.crypto) and their database concurrency leases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 22:11:14.459885
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("credential_kind", sa.String(length=16), nullable=False),
        sa.Column("access_token_sealed", sa.Text(), nullable=True),
        sa.Column("refresh_token_sealed", sa.Text(), nullable=True),
        sa.Column("api_key_sealed", sa.Text(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("token_expires_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("token_refreshed_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("proxy_type", sa.String(length=16), nullable=True),
        sa.Column("proxy_host", sa.String(length=255), nullable=True),
        sa.Column("proxy_port", sa.Integer(), nullable=True),
        sa.Column("proxy_username", sa.String(length=255), nullable=True),
        sa.Column("proxy_password_sealed", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), server_default="50", nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("rate_limit_remaining", sa.BigInteger(), nullable=True),
        sa.Column("rate_limit_reset_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recent_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cooldown_until", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refresh_lock_owner", sa.String(length=36), nullable=True),
        sa.Column("refresh_locked_until", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("total_requests", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "total_cost",
            app.db.types.Money(precision=20, scale=8),
            server_default="0",
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_provider_status", ["provider", "status"], unique=False)

    op.create_table(
        "account_leases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_leases_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_leases")),
    )
    with op.batch_alter_table("account_leases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_leases_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_account_leases_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("account_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_leases_expires_at"))
        batch_op.drop_index(batch_op.f("ix_account_leases_account_id"))

    op.drop_table("account_leases")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_provider_status")

    op.drop_table("accounts")

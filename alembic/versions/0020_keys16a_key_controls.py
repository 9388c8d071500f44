"""api keys: model and client restrictions, activation on first use, account bindings; account
groups and dedicated accounts

Revision ID: 0020_keys16a
Revises: 0016
Create Date: 2026-12-03 10:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0020_keys16a"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_models", sa.JSON(), server_default="[]",
                                      nullable=False))
        batch_op.add_column(sa.Column("denied_models", sa.JSON(), server_default="[]",
                                      nullable=False))
        batch_op.add_column(sa.Column("allowed_clients", sa.JSON(), server_default="[]",
                                      nullable=False))
        batch_op.add_column(sa.Column("activation_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("activation_unit", sa.String(length=8),
                                      server_default="days", nullable=False))
        batch_op.add_column(sa.Column("activated_at", app.db.types.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedicated", sa.Boolean(), server_default="0",
                                      nullable=False))
    op.create_table(
        "account_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_account_groups_name")),
    )
    op.create_table(
        "account_group_members",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_account_group_members_account_id_accounts")),
        sa.ForeignKeyConstraint(["group_id"], ["account_groups.id"], ondelete="CASCADE",
                                name=op.f("fk_account_group_members_group_id_account_groups")),
        sa.PrimaryKeyConstraint("group_id", "account_id", name=op.f("pk_account_group_members")),
    )
    with op.batch_alter_table("account_group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_group_members_account_id"), ["account_id"],
                              unique=False)
    op.create_table(
        "api_key_bindings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.Column("group_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint("(account_id IS NULL) <> (group_id IS NULL)",
                           name=op.f("ck_api_key_bindings_one_target")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_api_key_bindings_account_id_accounts")),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], ondelete="CASCADE",
                                name=op.f("fk_api_key_bindings_api_key_id_api_keys")),
        sa.ForeignKeyConstraint(["group_id"], ["account_groups.id"],
                                name=op.f("fk_api_key_bindings_group_id_account_groups")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key_bindings")),
    )
    with op.batch_alter_table("api_key_bindings", schema=None) as batch_op:
        for column in ("account_id", "api_key_id", "group_id"):
            batch_op.create_index(batch_op.f(f"ix_api_key_bindings_{column}"), [column],
                                  unique=False)


def downgrade() -> None:
    op.drop_table("api_key_bindings")
    op.drop_table("account_group_members")
    op.drop_table("account_groups")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("dedicated")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in ("activated_at", "activation_unit", "activation_days", "allowed_clients",
                       "denied_models", "allowed_models"):
            batch_op.drop_column(column)

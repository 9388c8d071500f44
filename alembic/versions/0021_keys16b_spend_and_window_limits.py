"""api_keys: how much a key may spend (total, weekly from a reset day and hour, in the key's
time zone) and window limits on requests, tokens and cost; key_window_holds keeps what requests
in flight are expected to use when Redis is not there.

Revision ID: 0021_keys16b
Revises: 0016
Create Date: 2026-12-03 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0021_keys16b"
down_revision: str | Sequence[str] | None = "0020_keys16a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("total_cost_limit",
                                      app.db.types.Money(precision=20, scale=8), nullable=True))
        batch_op.add_column(sa.Column("weekly_cost_limit",
                                      app.db.types.Money(precision=20, scale=8), nullable=True))
        batch_op.add_column(sa.Column("weekly_reset_day", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("weekly_reset_hour", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("weekly_cost_models", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("window_limits", sa.JSON(), nullable=True))
    op.create_table(
        "key_window_holds",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", app.db.types.Money(precision=20, scale=8), server_default="0",
                  nullable=False),
        sa.Column("expires_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"],
                                name=op.f("fk_key_window_holds_api_key_id_api_keys"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_window_holds")),
    )
    with op.batch_alter_table("key_window_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_window_holds_api_key_id"), ["api_key_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_key_window_holds_expires_at"), ["expires_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("key_window_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_window_holds_expires_at"))
        batch_op.drop_index(batch_op.f("ix_key_window_holds_api_key_id"))
    op.drop_table("key_window_holds")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in ("window_limits", "time_zone", "weekly_cost_models", "weekly_reset_hour",
                       "weekly_reset_day", "weekly_cost_limit", "total_cost_limit"):
            batch_op.drop_column(column)

"""Limit slots: per-key concurrency and requests-per-minute when Redis is not there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 22:51:18.371659
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limit_slots",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("bucket", sa.String(length=80), nullable=False),
        sa.Column("expires_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_slots")),
    )
    with op.batch_alter_table("limit_slots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_limit_slots_bucket"), ["bucket"], unique=False)
        batch_op.create_index(batch_op.f("ix_limit_slots_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("limit_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_limit_slots_expires_at"))
        batch_op.drop_index(batch_op.f("ix_limit_slots_bucket"))

    op.drop_table("limit_slots")

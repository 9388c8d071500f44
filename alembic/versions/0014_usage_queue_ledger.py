"""usage queue ledger: records queued and confirmed per instance, to report a lost stream

Revision ID: 0014
Revises: 0017
Create Date: 2026-12-03 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_queue_ledger",
        sa.Column("instance", sa.String(length=200), nullable=False),
        sa.Column("queued", sa.BigInteger(), nullable=False),
        sa.Column("confirmed", sa.BigInteger(), nullable=False),
        sa.Column("lost", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("instance", name=op.f("pk_usage_queue_ledger")),
    )


def downgrade() -> None:
    op.drop_table("usage_queue_ledger")

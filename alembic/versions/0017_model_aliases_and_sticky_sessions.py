"""model aliases (more names clients may send) and sticky sessions kept without Redis

Seeds the shipped aliases (app/data/models.json) onto the catalogue entries that exist.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types
from app.data import catalogue_aliases

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aliases", sa.JSON(), server_default="[]", nullable=False))
    models = sa.table("models", sa.column("id", sa.String), sa.column("aliases", sa.JSON))
    for model_id, aliases in catalogue_aliases().items():
        if aliases:
            op.execute(models.update().where(models.c.id == model_id).values(aliases=aliases))
    op.create_table(
        "sticky_sessions",
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("expires_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("api_key_id", "session_hash", name=op.f("pk_sticky_sessions")),
    )
    with op.batch_alter_table("sticky_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sticky_sessions_expires_at"), ["expires_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sticky_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sticky_sessions_expires_at"))
    op.drop_table("sticky_sessions")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("aliases")

"""models: a price for cache writes kept an hour (Anthropic's 1h TTL), apart from 5 minutes'

Claude models start at twice their input price, as Anthropic lists it; other providers have no
such write, so theirs is their cache-write price.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.types import Money

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_write_1h_price", Money(precision=20, scale=8), server_default="0",
                                      nullable=False))
    op.execute("UPDATE models SET cache_write_1h_price = CASE WHEN provider = 'claude' "
               "THEN input_price * 2 ELSE cache_write_price END")


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("cache_write_1h_price")

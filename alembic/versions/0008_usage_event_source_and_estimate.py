"""usage events: who reported each use (source) and whether its tokens were estimated

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="relay",
                                      nullable=False))
        batch_op.add_column(sa.Column("estimated", sa.Boolean(), server_default="false",
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_column("estimated")
        batch_op.drop_column("source")

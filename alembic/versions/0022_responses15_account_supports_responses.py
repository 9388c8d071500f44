"""accounts.supports_responses: an OpenAI-compatible upstream that serves the Responses API, so
/v1/responses requests are relayed to it as sent.

Revision ID: 0022_responses15
Revises: 0021_keys16b
Create Date: 2026-12-03 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_responses15"
down_revision: str | Sequence[str] | None = "0021_keys16b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supports_responses", sa.Boolean(), server_default="0",
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("supports_responses")

"""Staged operations are stored sealed: `data` becomes `data_sealed`.

Operations stored before were plaintext (an account's API key or OAuth tokens could sit there);
they are deleted, and so are the transactions still open (each lives for seconds to minutes:
its client gets 404 at commit and begins again).

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _discard_staged_operations() -> None:
    op.execute("DELETE FROM staged_operations")
    op.execute("DELETE FROM staged_transactions WHERE status = 'open'")


def upgrade() -> None:
    _discard_staged_operations()
    with op.batch_alter_table("staged_operations") as batch:
        batch.alter_column("data", new_column_name="data_sealed")


def downgrade() -> None:
    _discard_staged_operations()  # sealed: the code before this revision could not read them
    with op.batch_alter_table("staged_operations") as batch:
        batch.alter_column("data_sealed", new_column_name="data")

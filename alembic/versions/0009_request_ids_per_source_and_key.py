"""usage request ids claimed per source and per key; partitions named with four-digit years

A request id was one global namespace: a key holder could claim the id of a chat-fast record
before the drain stored it (and the relay's record was dropped as a duplicate), or another
key's id. The primary key of usage_request_ids becomes (source, api_key_id, request_id).
Existing ids were claimed before sources were told apart; they count as the relay's.

On PostgreSQL, monthly partitions of a year below 1000 were named with fewer than four digits
(`usage_events_999_01`), which the cleanup does not recognise; they are renamed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHORT_YEAR = re.compile(r"^usage_events_(\d{1,3})_(\d{2})$")
# Which of several claims of one id survives a downgrade: the relay's first.
_RANK = "CASE {t}.source WHEN 'relay' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END"


def upgrade() -> None:
    with op.batch_alter_table("usage_request_ids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="relay",
                                      nullable=False))
    with op.batch_alter_table("usage_request_ids", schema=None) as batch_op:
        batch_op.drop_constraint("pk_usage_request_ids", type_="primary")
        batch_op.create_primary_key("pk_usage_request_ids",
                                    ["source", "api_key_id", "request_id"])
        batch_op.alter_column("source", server_default=None)
    if op.get_bind().dialect.name == "postgresql":
        _rename_short_year_partitions()


def downgrade() -> None:
    this, other = _RANK.format(t="usage_request_ids"), _RANK.format(t="other")
    op.execute(
        "DELETE FROM usage_request_ids WHERE EXISTS (SELECT 1 FROM usage_request_ids AS other "
        "WHERE other.request_id = usage_request_ids.request_id "
        f"AND ({other} < {this} OR ({other} = {this} "
        "AND other.api_key_id < usage_request_ids.api_key_id)))"
    )
    with op.batch_alter_table("usage_request_ids", schema=None) as batch_op:
        batch_op.drop_constraint("pk_usage_request_ids", type_="primary")
        batch_op.create_primary_key("pk_usage_request_ids", ["request_id"])
    with op.batch_alter_table("usage_request_ids", schema=None) as batch_op:
        batch_op.drop_column("source")


def _rename_short_year_partitions() -> None:
    names = op.get_bind().scalars(sa.text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'usage_events'::regclass"
    )).all()
    for name in names:
        match = _SHORT_YEAR.match(name)
        if match:
            year, month = int(match[1]), match[2]
            op.execute(f'ALTER TABLE "{name}" RENAME TO "usage_events_{year:04d}_{month}"')

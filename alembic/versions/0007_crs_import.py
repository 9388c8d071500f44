"""CRS import: its ledger, the key hash peppers of imported keys, imported usage baselines.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 23:31:43.379140
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crs_import_items",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("imported_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "source_id", name=op.f("pk_crs_import_items")),
    )
    op.create_table(
        "key_hash_peppers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_hash_peppers")),
    )
    with op.batch_alter_table("key_hash_peppers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_hash_peppers_scheme"), ["scheme"], unique=False)

    op.create_table(
        "usage_baselines",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("bucket", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "cost", app.db.types.Money(precision=20, scale=8), server_default="0", nullable=False
        ),
        sa.PrimaryKeyConstraint(
            "source", "api_key_id", "model", "bucket", name=op.f("pk_usage_baselines")
        ),
    )
    with op.batch_alter_table("usage_baselines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_baselines_api_key_id_bucket", ["api_key_id", "bucket"], unique=False
        )
        batch_op.create_index("ix_usage_baselines_bucket", ["bucket"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_baselines", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_baselines_bucket")
        batch_op.drop_index("ix_usage_baselines_api_key_id_bucket")

    op.drop_table("usage_baselines")
    with op.batch_alter_table("key_hash_peppers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_hash_peppers_scheme"))

    op.drop_table("key_hash_peppers")
    op.drop_table("crs_import_items")

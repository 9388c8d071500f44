"""Operations: storage strategies (seeded), metric buckets, query stats, alerts, staged transactions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 22:24:33.878286
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("operator", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("webhook", sa.String(length=2000), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="ok", nullable=False),
        sa.Column("pending_since", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fired_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_evaluated_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_table(
        "metric_buckets",
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resolution", "bucket_start", "name", name=op.f("pk_metric_buckets")
        ),
    )
    op.create_table(
        "query_stats",
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("call_count", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=False),
        sa.Column("last_executed", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_query_stats")),
    )
    op.create_table(
        "staged_transactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("isolation_level", sa.String(length=16), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operation_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staged_transactions")),
    )
    with op.batch_alter_table("staged_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staged_transactions_status"), ["status"], unique=False)

    strategies = op.create_table(
        "storage_strategies",
        sa.Column("data_type", sa.String(length=16), nullable=False),
        sa.Column("primary_storage", sa.String(length=16), nullable=False),
        sa.Column("enable_cache", sa.Boolean(), nullable=False),
        sa.Column("cache_ttl", sa.Integer(), nullable=True),
        sa.Column("read_strategy", sa.String(length=16), nullable=False),
        sa.Column("write_strategy", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="1", nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("data_type", name=op.f("pk_storage_strategies")),
    )
    # The defaults: the database is the record, authorisation data is cached, usage is not.
    now = datetime.now(UTC)
    op.bulk_insert(
        strategies,
        [
            {
                "data_type": data_type,
                "primary_storage": "postgres",
                "enable_cache": cached,
                "cache_ttl": None,
                "read_strategy": "cache_first" if cached else "database_first",
                "write_strategy": "write_through",
                "version": 1,
                "updated_at": now,
            }
            for data_type, cached in (
                ("apikey", True),
                ("account", True),
                ("usage", False),
                ("session", True),
            )
        ],
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_deliveries_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_deliveries_alert_id"), ["alert_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alert_deliveries_status"), ["status"], unique=False)

    op.create_table(
        "staged_operations",
        sa.Column("transaction_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("row_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["staged_transactions.id"],
            name=op.f("fk_staged_operations_transaction_id_staged_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transaction_id", "position", name=op.f("pk_staged_operations")),
    )


def downgrade() -> None:
    op.drop_table("staged_operations")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_status"))
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_alert_id"))

    op.drop_table("alert_deliveries")
    op.drop_table("storage_strategies")
    with op.batch_alter_table("staged_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staged_transactions_status"))

    op.drop_table("staged_transactions")
    op.drop_table("query_stats")
    op.drop_table("metric_buckets")
    op.drop_table("alerts")

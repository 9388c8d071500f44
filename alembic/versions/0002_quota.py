"""Quota: users, plans, the model catalogue, usage counters, reservations, idempotency keys.

Seeds the catalogue from app/data/models.json (as it is when this runs: a fresh install gets the
shipped catalogue, an existing one changes prices through the admin routes) and the default plan
limits. Keys owned by a user id that no user has get a placeholder user (plan free,
email <id>@users.invalid), so the new foreign key api_keys.user_id -> users.id holds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 22:14:21.375736
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.db.types
from app.data import model_catalogue

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_LIMITS = [
    ("free", "basic", 50, "day"),
    ("free", "premium", 5, "day"),
    ("premium", "basic", 1000, "day"),
    ("premium", "premium", 100, "day"),
]


def upgrade() -> None:
    models = op.create_table(
        "models",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("model_type", sa.String(length=16), nullable=False),
        sa.Column("upstream_model", sa.String(length=200), nullable=False),
        sa.Column(
            "input_price",
            app.db.types.Money(precision=20, scale=8),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "output_price",
            app.db.types.Money(precision=20, scale=8),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "cache_write_price",
            app.db.types.Money(precision=20, scale=8),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "cache_read_price",
            app.db.types.Money(precision=20, scale=8),
            server_default="0",
            nullable=False,
        ),
        sa.Column("context_window", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("model_type IN ('premium', 'basic')", name=op.f("ck_models_model_type")),
        sa.CheckConstraint(
            "provider IN ('openai', 'claude', 'gemini')", name=op.f("ck_models_provider")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )
    plan_limits = op.create_table(
        "plan_limits",
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("model_type", sa.String(length=16), nullable=False),
        sa.Column("usage_limit", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "model_type IN ('premium', 'basic')", name=op.f("ck_plan_limits_model_type")
        ),
        sa.CheckConstraint("period IN ('day', 'month')", name=op.f("ck_plan_limits_period")),
        sa.CheckConstraint("plan IN ('free', 'premium')", name=op.f("ck_plan_limits_plan")),
        sa.CheckConstraint("usage_limit >= 0", name=op.f("ck_plan_limits_limit_not_negative")),
        sa.PrimaryKeyConstraint("plan", "model_type", name=op.f("pk_plan_limits")),
    )
    op.create_table(
        "usage_counters",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("model_type", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint(
            "subject", "model_type", "period", "period_start", name=op.f("pk_usage_counters")
        ),
    )
    op.create_table(
        "usage_idempotency_keys",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", "key", name=op.f("pk_usage_idempotency_keys")),
    )
    with op.batch_alter_table("usage_idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "usage_reservations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("model_type", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("period_start", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("credits_spent", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('held', 'committed', 'cancelled', 'expired')",
            name=op.f("ck_usage_reservations_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_reservations")),
    )
    with op.batch_alter_table("usage_reservations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_reservations_subject_state_expires_at",
            ["subject", "state", "expires_at"],
            unique=False,
        )

    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("plan", sa.String(length=16), server_default="free", nullable=False),
        sa.Column("credits", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("plan IN ('free', 'premium')", name=op.f("ck_users_plan")),
        sa.CheckConstraint("credits >= 0", name=op.f("ck_users_credits_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        models,
        [
            # Columns added by later migrations are theirs to fill (0016: cache_write_1h_price).
            {**{k: v for k, v in row.items() if k != "cache_write_1h_price"},
             "is_active": True, "created_at": now, "updated_at": now}
            for row in model_catalogue()
        ],
    )
    op.bulk_insert(
        plan_limits,
        [
            {
                "plan": plan,
                "model_type": model_type,
                "usage_limit": limit,
                "period": period,
                "updated_at": now,
            }
            for plan, model_type, limit, period in DEFAULT_LIMITS
        ],
    )
    op.get_bind().execute(
        sa.text(
            "INSERT INTO users (id, email, plan, credits, created_at, updated_at) "
            "SELECT DISTINCT k.user_id, k.user_id || '@users.invalid', 'free', 0, :now, :now "
            "FROM api_keys k WHERE k.user_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = k.user_id)"
        ).bindparams(sa.bindparam("now", now, type_=app.db.types.UTCDateTime()))
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_user_id_users"), "users", ["user_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_user_id_users"), type_="foreignkey")

    op.drop_table("users")
    with op.batch_alter_table("usage_reservations", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_reservations_subject_state_expires_at")

    op.drop_table("usage_reservations")
    with op.batch_alter_table("usage_idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_idempotency_keys_created_at"))

    op.drop_table("usage_idempotency_keys")
    op.drop_table("usage_counters")
    op.drop_table("plan_limits")
    op.drop_table("models")

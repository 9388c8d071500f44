"""usage statistics: hourly and daily rollups, request ids, monthly partitions of usage_events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:17:17.765651

On PostgreSQL usage_events becomes a table range-partitioned by month of occurred_at (the cleanup
drops whole months instead of deleting row by row); its primary key grows to (id, occurred_at),
as a partitioned table requires, so request-id idempotency moves to usage_request_ids. Existing
events are kept, and rollups and request ids are filled from them.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.db.types

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENT_COLUMNS = (
    "id, api_key_id, account_id, account_type, model, input_tokens, output_tokens, "
    "cache_write_tokens, cache_read_tokens, total_tokens, cost, request_count, request_id, "
    "occurred_at, recorded_at"
)
_SUMS = "requests, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, total_tokens, cost"
_EVENT_SUMS = (
    "sum(request_count), sum(input_tokens), sum(output_tokens), sum(cache_write_tokens), "
    "sum(cache_read_tokens), sum(total_tokens), sum(cost)"
)
_GRAINS = {
    "m": ("model",),
    "a": ("account_id",),
    "k": ("api_key_id",),
    "kma": ("api_key_id", "model", "account_id"),
}


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("span", sa.String(length=4), nullable=False),
        sa.Column("grain", sa.String(length=4), nullable=False),
        sa.Column("bucket", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
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
            "span",
            "grain",
            "bucket",
            "api_key_id",
            "model",
            "account_id",
            name=op.f("pk_usage_rollups"),
        ),
    )
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_rollups_span_grain_account_id_bucket",
            ["span", "grain", "account_id", "bucket"],
            unique=False,
        )
        batch_op.create_index(
            "ix_usage_rollups_span_grain_api_key_id_bucket",
            ["span", "grain", "api_key_id", "bucket"],
            unique=False,
        )
        batch_op.create_index(
            "ix_usage_rollups_span_grain_model_bucket",
            ["span", "grain", "model", "bucket"],
            unique=False,
        )

    op.create_table(
        "usage_request_ids",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("api_key_id", sa.String(length=36), nullable=False),
        sa.Column("occurred_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_usage_request_ids")),
    )
    with op.batch_alter_table("usage_request_ids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_request_ids_occurred_at"), ["occurred_at"], unique=False
        )

    if _is_postgresql():
        _partition_events()
    else:
        with op.batch_alter_table("usage_events", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("uq_usage_events_request_id"), type_="unique")
            batch_op.drop_constraint(
                batch_op.f("fk_usage_events_api_key_id_api_keys"), type_="foreignkey"
            )
    _fill_from_existing_events()


def _next_month(instant: datetime) -> datetime:
    year, month = divmod(instant.year * 12 + instant.month, 12)
    return datetime(year, month + 1, 1, tzinfo=UTC)


def _months(first: datetime, last: datetime) -> list[datetime]:
    months, current = [], datetime(first.year, first.month, 1, tzinfo=UTC)
    while current <= last:
        months.append(current)
        current = _next_month(current)
    return months


def _create_partition(month: datetime) -> None:
    upper = _next_month(month)
    name = f"usage_events_{month:%Y_%m}"
    op.execute(f"CREATE TABLE {name} (LIKE usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute(
        f"ALTER TABLE usage_events ATTACH PARTITION {name} "
        f"FOR VALUES FROM ('{month.isoformat()}') TO ('{upper.isoformat()}')"
    )


def _partition_events() -> None:
    op.execute("ALTER TABLE usage_events RENAME TO usage_events_0001")
    op.execute("ALTER TABLE usage_events_0001 DROP CONSTRAINT uq_usage_events_request_id")
    op.execute("ALTER TABLE usage_events_0001 DROP CONSTRAINT fk_usage_events_api_key_id_api_keys")
    op.execute(
        "ALTER TABLE usage_events_0001 RENAME CONSTRAINT pk_usage_events TO pk_usage_events_0001"
    )
    op.execute("DROP INDEX ix_usage_events_api_key_id_occurred_at")
    op.execute("DROP INDEX ix_usage_events_occurred_at")
    op.execute(
        """
        CREATE TABLE usage_events (
            id BIGINT NOT NULL DEFAULT nextval('usage_events_id_seq'),
            api_key_id VARCHAR(36) NOT NULL,
            account_id VARCHAR(36),
            account_type VARCHAR(16),
            model VARCHAR(200) NOT NULL,
            input_tokens BIGINT DEFAULT '0' NOT NULL,
            output_tokens BIGINT DEFAULT '0' NOT NULL,
            cache_write_tokens BIGINT DEFAULT '0' NOT NULL,
            cache_read_tokens BIGINT DEFAULT '0' NOT NULL,
            total_tokens BIGINT DEFAULT '0' NOT NULL,
            cost NUMERIC(20, 8) DEFAULT '0' NOT NULL,
            request_count INTEGER NOT NULL,
            request_id VARCHAR(128),
            occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
            recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
            CONSTRAINT pk_usage_events PRIMARY KEY (id, occurred_at)
        ) PARTITION BY RANGE (occurred_at)
        """
    )
    op.execute("ALTER SEQUENCE usage_events_id_seq OWNED BY usage_events.id")
    op.execute(
        "CREATE INDEX ix_usage_events_api_key_id_occurred_at ON usage_events (api_key_id, occurred_at)"
    )
    op.execute("CREATE INDEX ix_usage_events_occurred_at ON usage_events (occurred_at)")
    now = datetime.now(UTC)
    first = op.get_bind().scalar(sa.text("SELECT min(occurred_at) FROM usage_events_0001")) or now
    last = op.get_bind().scalar(sa.text("SELECT max(occurred_at) FROM usage_events_0001")) or now
    # This month and the next exist from the start; the recorder adds later months as needed.
    for month in _months(min(first, now), max(last, _next_month(now))):
        _create_partition(month)
    op.execute(
        f"INSERT INTO usage_events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM usage_events_0001"
    )
    op.execute("DROP TABLE usage_events_0001")


def _fill_from_existing_events() -> None:
    op.execute(
        "INSERT INTO usage_request_ids (request_id, api_key_id, occurred_at, recorded_at) "
        "SELECT request_id, api_key_id, occurred_at, recorded_at FROM usage_events "
        "WHERE request_id IS NOT NULL"
    )
    if _is_postgresql():
        hour, day = "date_trunc('hour', occurred_at, 'UTC')", "date_trunc('day', bucket, 'UTC')"
    else:
        hour = "strftime('%Y-%m-%d %H:00:00.000000', occurred_at)"
        day = "strftime('%Y-%m-%d 00:00:00.000000', bucket)"
    account = "coalesce(account_id, '')"
    columns = f"span, grain, bucket, api_key_id, model, account_id, {_SUMS}"
    op.execute(
        f"INSERT INTO usage_rollups ({columns}) "
        f"SELECT 'hour', 'kma', {hour}, api_key_id, model, {account}, {_EVENT_SUMS} "
        f"FROM usage_events GROUP BY {hour}, api_key_id, model, {account}"
    )
    sums = ", ".join(f"sum({name.strip()})" for name in _SUMS.split(","))
    for span, bucket in (("hour", "bucket"), ("day", day)):
        for grain, kept in _GRAINS.items():
            if (span, grain) == ("hour", "kma"):
                continue
            dims = ", ".join(
                c if c in kept else "''" for c in ("api_key_id", "model", "account_id")
            )
            op.execute(
                f"INSERT INTO usage_rollups ({columns}) "
                f"SELECT '{span}', '{grain}', {bucket}, {dims}, {sums} FROM usage_rollups "
                f"WHERE span = 'hour' AND grain = 'kma' GROUP BY {bucket}, {', '.join(kept)}"
            )


def downgrade() -> None:
    if _is_postgresql():
        _unpartition_events()
    else:
        with op.batch_alter_table("usage_events", schema=None) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f("fk_usage_events_api_key_id_api_keys"),
                "api_keys",
                ["api_key_id"],
                ["id"],
            )
            batch_op.create_unique_constraint(
                batch_op.f("uq_usage_events_request_id"), ["request_id"]
            )

    with op.batch_alter_table("usage_request_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_request_ids_occurred_at"))

    op.drop_table("usage_request_ids")
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_rollups_span_grain_model_bucket")
        batch_op.drop_index("ix_usage_rollups_span_grain_api_key_id_bucket")
        batch_op.drop_index("ix_usage_rollups_span_grain_account_id_bucket")

    op.drop_table("usage_rollups")


def _unpartition_events() -> None:
    op.execute("ALTER TABLE usage_events RENAME TO usage_events_0004")
    op.execute(
        "ALTER TABLE usage_events_0004 RENAME CONSTRAINT pk_usage_events TO pk_usage_events_0004"
    )
    op.execute("DROP INDEX ix_usage_events_api_key_id_occurred_at")
    op.execute("DROP INDEX ix_usage_events_occurred_at")
    op.execute("ALTER SEQUENCE usage_events_id_seq OWNED BY NONE")
    op.execute(
        """
        CREATE TABLE usage_events (
            id BIGINT NOT NULL DEFAULT nextval('usage_events_id_seq'),
            api_key_id VARCHAR(36) NOT NULL,
            account_id VARCHAR(36),
            account_type VARCHAR(16),
            model VARCHAR(200) NOT NULL,
            input_tokens BIGINT DEFAULT '0' NOT NULL,
            output_tokens BIGINT DEFAULT '0' NOT NULL,
            cache_write_tokens BIGINT DEFAULT '0' NOT NULL,
            cache_read_tokens BIGINT DEFAULT '0' NOT NULL,
            total_tokens BIGINT DEFAULT '0' NOT NULL,
            cost NUMERIC(20, 8) DEFAULT '0' NOT NULL,
            request_count INTEGER NOT NULL,
            request_id VARCHAR(128),
            occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
            recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
            CONSTRAINT pk_usage_events PRIMARY KEY (id),
            CONSTRAINT fk_usage_events_api_key_id_api_keys FOREIGN KEY (api_key_id)
                REFERENCES api_keys (id),
            CONSTRAINT uq_usage_events_request_id UNIQUE (request_id)
        )
        """
    )
    op.execute("ALTER SEQUENCE usage_events_id_seq OWNED BY usage_events.id")
    op.execute(
        "CREATE INDEX ix_usage_events_api_key_id_occurred_at ON usage_events (api_key_id, occurred_at)"
    )
    op.execute("CREATE INDEX ix_usage_events_occurred_at ON usage_events (occurred_at)")
    op.execute(
        f"INSERT INTO usage_events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM usage_events_0004"
    )
    op.execute("DROP TABLE usage_events_0004")

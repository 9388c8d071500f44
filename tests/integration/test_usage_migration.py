"""Migration 0004 keeps the usage already recorded, and fills rollups and request ids from it;
migration 0009 scopes request ids per source and key, and names partitions with four digits."""

import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from app.db.migrations import alembic_config, upgrade
from tests.support.servers import pg_admin_dsn, pg_create, pg_drop

EVENTS = """
INSERT INTO usage_events (api_key_id, account_id, model, input_tokens, output_tokens,
    total_tokens, cost, request_count, request_id, occurred_at, recorded_at)
VALUES ('k1', 'a1', 'm1', 10, 5, 15, :first_cost, 1, 'r1', :first, :first),
       ('k1', NULL, 'm2', 1, 2, 3, :second_cost, 2, NULL, :second, :first)
"""


@pytest.fixture
def empty_url(backend, request, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    admin = pg_admin_dsn(request.getfixturevalue("postgres_url"))
    server = request.getfixturevalue("postgres_url").rsplit("/", 1)[0]
    name = f"rg_migration_{uuid.uuid4().hex[:10]}"
    pg_create(admin, name)
    yield f"{server}/{name}"
    pg_drop(admin, name)


def test_upgrading_keeps_events_and_builds_their_rollups_and_request_ids(empty_url, backend):
    upgrade(empty_url, "0001")
    engine = create_engine(empty_url)
    sqlite = backend == "sqlite"
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO api_keys (id, name, hashed_key, created_at, updated_at) "
            "VALUES ('k1', 'k', 'h', :now, :now)"), {"now": "2025-09-01 00:00:00.000000"})
        connection.execute(text(EVENTS), {
            # SQLite keeps money as integer 1e-8 USD (app.db.types.Money).
            "first_cost": 25_000_000 if sqlite else "0.25",
            "second_cost": 12_500_000 if sqlite else "0.125",
            "first": "2025-09-03 10:15:00" + (".000000" if sqlite else "+00"),
            "second": "2025-09-03 22:15:00" + (".000000" if sqlite else "+00"),
        })
    upgrade(empty_url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM usage_events")) == 2
        assert connection.scalar(text("SELECT request_id FROM usage_request_ids")) == "r1"
        rows = connection.execute(text(
            "SELECT span, grain, requests FROM usage_rollups WHERE grain IN ('m', 'k') "
            "ORDER BY span, grain, bucket, model")).all()
        assert [tuple(row) for row in rows] == [
            ("day", "k", 3), ("day", "m", 1), ("day", "m", 2),
            ("hour", "k", 1), ("hour", "k", 2), ("hour", "m", 1), ("hour", "m", 2)]
    command.downgrade(alembic_config(empty_url), "0001")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM usage_events")) == 2
    engine.dispose()



def claim(connection, source: str | None = None, key: str = "k1") -> None:
    """One claim of request id 'r1' by a key (before 0009: without a source)."""
    columns, values = "request_id, api_key_id, occurred_at, recorded_at", f"'r1', '{key}', :at, :at"
    if source is not None:
        columns, values = "source, " + columns, f"'{source}', " + values
    connection.execute(text(f"INSERT INTO usage_request_ids ({columns}) VALUES ({values})"),
                        {"at": datetime(2026, 11, 30, 10, tzinfo=UTC)})


def test_request_ids_become_the_relays_and_a_downgrade_keeps_the_relays_claim(empty_url,
                                                                              backend):
    upgrade(empty_url, "0008")
    engine = create_engine(empty_url)
    with engine.begin() as connection:
        claim(connection)
        if backend == "postgres":
            connection.execute(text(
                "CREATE TABLE usage_events_999_01 (LIKE usage_events INCLUDING DEFAULTS)"))
            connection.execute(text(
                "ALTER TABLE usage_events ATTACH PARTITION usage_events_999_01 "
                "FOR VALUES FROM ('0999-01-01 00:00+00') TO ('0999-02-01 00:00+00')"))
    upgrade(empty_url)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT source, request_id FROM usage_request_ids")
                                  ).all() == [("relay", "r1")]
        claim(connection, "client", key="k0")  # sorts first, yet the relay's claim stays
        claim(connection, "admin", key="k0")
        assert connection.scalar(text("SELECT count(*) FROM usage_request_ids")) == 3
        if backend == "postgres":
            assert connection.scalar(text("SELECT to_regclass('usage_events_999_01')")) is None
            assert connection.scalar(text("SELECT to_regclass('usage_events_0999_01')"))
    command.downgrade(alembic_config(empty_url), "0008")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT request_id, api_key_id FROM usage_request_ids")
                                  ).all() == [("r1", "k1")]
    engine.dispose()

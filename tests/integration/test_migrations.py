"""Alembic owns the schema: models and migrations agree, and the chain runs both ways."""

import uuid

from alembic import command

from app.db.migrations import alembic_config
from tests.support.apps import PG_URL
from tests.support.servers import pg_admin_dsn, pg_create, pg_drop


def test_migrations_round_trip_on_postgres_and_match_the_models(pg_database):
    admin = pg_admin_dsn(PG_URL)
    name = f"rg_migrate_{uuid.uuid4().hex[:8]}"
    pg_create(admin, name)
    try:
        config = alembic_config(PG_URL.rsplit("/", 1)[0] + "/" + name)
        command.upgrade(config, "heads")
        command.check(config)
        command.downgrade(config, "base")
        command.upgrade(config, "heads")
        command.check(config)
    finally:
        pg_drop(admin, name)


def test_migrations_run_on_sqlite_and_match_the_models(tmp_path):
    config = alembic_config(f"sqlite:///{tmp_path / 'm.db'}")
    command.upgrade(config, "heads")
    command.check(config)
    command.downgrade(config, "base")
    command.upgrade(config, "heads")

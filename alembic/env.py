"""Alembic environment: the URL comes from the app's own settings, the metadata from its models."""

from alembic import context
from sqlalchemy import create_engine, pool

from app.config import load_settings
from app.db import models  # noqa: F401  (registers every table on the metadata)
from app.db.base import Base
from app.db.repositories.usage_events import PARTITION_NAME

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # Tests and the app pass a URL; the alembic CLI uses the app's settings (DATABASE_URL).
    return config.attributes.get("database_url") or load_settings().database_url


def _include_name(name, type_, parent_names) -> bool:
    # Monthly partitions of usage_events are created at run time, not declared as models.
    return not (type_ == "table" and PARTITION_NAME.match(name or ""))


def _options() -> dict:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "include_name": _include_name,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
        "render_as_batch": _url().startswith("sqlite"),
    }


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, **_options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool, hide_parameters=True)
    with engine.connect() as connection:
        context.configure(connection=connection, **_options())
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

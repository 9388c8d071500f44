"""INSERT ... ON CONFLICT for the dialect of a session (PostgreSQL and SQLite share the syntax)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

Upsert = postgresql.Insert | sqlite.Insert


def insert_for(session: Session, table) -> Upsert:
    """An `insert(table)` that has on_conflict_do_update / on_conflict_do_nothing."""
    return insert_of(session.get_bind().dialect.name, table)


def insert_of(dialect_name: str, table) -> Upsert:
    """The same for a dialect's name."""
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)

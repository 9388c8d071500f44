"""INSERT ... ON CONFLICT for the dialect of a session (PostgreSQL and SQLite share the syntax)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table):
    """An `insert(table)` that has on_conflict_do_update / on_conflict_do_nothing."""
    name = session.get_bind().dialect.name
    dialect = postgresql if name == "postgresql" else sqlite
    return dialect.insert(table)

"""What readiness needs to know of the database."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError


class HealthRepository:
    def __init__(self, session):
        self.session = session

    def ping(self) -> None:
        self.session.execute(text("SELECT 1"))

    def schema_revisions(self) -> set[str]:
        try:
            rows = self.session.execute(text("SELECT version_num FROM alembic_version"))
        except SQLAlchemyError:
            return set()
        return {row[0] for row in rows}

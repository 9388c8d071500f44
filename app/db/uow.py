"""The unit of work: one database session, its repositories, and an explicit commit."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from app.db import repositories as repos
from app.db.engine import translate


class UnitOfWork:
    """Open with `with uow:`; leaving the block rolls back whatever was not committed."""

    admins: repos.AdminRepository
    sessions: repos.SessionRepository
    api_keys: repos.ApiKeyRepository
    usage_events: repos.UsageEventRepository
    usage_rollups: repos.UsageRollupRepository
    health: repos.HealthRepository

    def __init__(self, session_factory: sessionmaker):
        self._session_factory = session_factory
        self.session = None

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        for name, repository in repos.REPOSITORIES.items():
            setattr(self, name, repository(self.session))
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc is None:
                # Keep loaded rows usable after the block: rollback would expire them.
                self.session.expunge_all()
            self.session.rollback()
        finally:
            self.session.close()
        if isinstance(exc, SQLAlchemyError):
            raise translate(exc) from exc

    def commit(self) -> None:
        try:
            self.session.commit()
        except SQLAlchemyError as error:
            raise translate(error) from error

    def flush(self) -> None:
        try:
            self.session.flush()
        except SQLAlchemyError as error:
            raise translate(error) from error


class UnitOfWorkFactory:
    """What services receive: calling it gives a fresh unit of work."""

    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)

"""Sticky-session bindings in the database (used when Redis is not configured or is down)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update

from app.db.models import StickySession
from app.db.repositories.base import Repository
from app.db.repositories.upsert import insert_for


class StickySessionRepository(Repository[StickySession]):
    model = StickySession

    def put(self, api_key_id: str, session_hash: str, account_id: str,
            expires_at: datetime) -> None:
        """Bind, or move the binding (one statement: two workers binding at once both land)."""
        statement = insert_for(self.session, StickySession).values(
            api_key_id=api_key_id, session_hash=session_hash, account_id=account_id,
            expires_at=expires_at)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["api_key_id", "session_hash"],
            set_={"account_id": account_id, "expires_at": expires_at}))

    def extend(self, api_key_id: str, session_hash: str, expires_at: datetime) -> int:
        return self._execute(
            update(StickySession)
            .where(StickySession.api_key_id == api_key_id,
                   StickySession.session_hash == session_hash)
            .values(expires_at=expires_at)
        ).rowcount

    def drop_expired(self, api_key_id: str, now: datetime) -> int:
        return self._execute(
            delete(StickySession)
            .where(StickySession.api_key_id == api_key_id, StickySession.expires_at <= now)
        ).rowcount

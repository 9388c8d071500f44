"""Sessions by token hash; expired ones are removed in bulk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from app.db.models import Session
from app.db.repositories.base import Repository


class SessionRepository(Repository[Session]):
    model = Session

    def get_by_token_hash(self, token_hash: str) -> Session | None:
        return self.session.scalar(select(Session).where(Session.token_hash == token_hash))

    def delete_for_user(self, user_id: str, user_type: str) -> list[str]:
        """Delete every session of one user; answers their token hashes (to uncache them)."""
        return list(self.session.scalars(
            delete(Session).where(Session.user_id == user_id, Session.user_type == user_type)
            .returning(Session.token_hash).execution_options(synchronize_session=False)))

    def delete_expired(self, now: datetime) -> int:
        result = self._execute(delete(Session).where(Session.expires_at <= now))
        return result.rowcount

"""StickySessions: one conversation of an API key stays on one upstream account.

Provider prompt caches live per account, so a conversation (app/services/chat/session_key.py)
is bound to the account that last answered it. The scheduler tries the bound account first
whenever it is usable (active, not resting, not cooling down, not excluded); otherwise it
chooses as usual and the binding moves at once to the account that answers. Bindings are per
API key and expire `ttl_seconds` after their last use.

Kept in Redis (app/cache/sticky.py) while Redis is usable; without Redis in the database, so
every worker sees them. During a Redis outage new bindings go to the database and Redis's are
not read: a conversation may move once then, and once more when Redis returns.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Unpack

from app.cache.sticky import StickySessionStore
from app.errors import DatabaseError
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

log = logging.getLogger(__name__)


@dataclass
class SessionBinding:
    """One request's view of its session's binding: `account_id` is the bound account (or
    None); `keep` moves the binding to the account that answered, if that is another."""

    sessions: StickySessions
    api_key_id: str
    session_hash: str
    account_id: str | None

    def keep(self, account_id: str) -> None:
        if account_id == self.account_id:
            return
        try:
            self.sessions.bind(self.api_key_id, self.session_hash, account_id)
        except DatabaseError:  # costs the next request its cache affinity, not its answer
            log.exception("could not bind a session of key %s", self.api_key_id)
            return
        self.account_id = account_id


class StickySessions(Service):
    def __init__(self, *, ttl_seconds: int = 3600, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.ttl = timedelta(seconds=ttl_seconds)
        self.redis = StickySessionStore(self.cache, ttl_seconds)

    def binding(self, api_key_id: str, session_key: str | None) -> SessionBinding | None:
        """The session's binding (renewing it); None for a request without a session."""
        if session_key is None:
            return None
        session_hash = hashlib.sha256(session_key.encode()).hexdigest()
        return SessionBinding(self, api_key_id, session_hash,
                              self.bound(api_key_id, session_hash))

    def binding_riding(self, api_key_id: str, session_key: str | None
                       ) -> SessionBinding | None:
        """`binding`, its Redis read riding the request's next round trip (inside
        app.cache.riding_along: the binding's account is known once the block has ended).
        None for a request without a session, or when the read cannot ride (Redis unusable):
        ask `binding` then."""
        if session_key is None:
            return None
        session_hash = hashlib.sha256(session_key.encode()).hexdigest()
        found = SessionBinding(self, api_key_id, session_hash, None)

        def answered(account_id: str | None) -> None:
            found.account_id = account_id

        return found if self.redis.bound_riding(api_key_id, session_hash, answered) else None

    def bound(self, api_key_id: str, session_hash: str) -> str | None:
        if self.redis.usable():
            return self.redis.bound(api_key_id, session_hash)
        return self._bound_in_database(api_key_id, session_hash)

    def bind(self, api_key_id: str, session_hash: str, account_id: str) -> None:
        if self.redis.usable() and self.redis.bind(api_key_id, session_hash, account_id):
            return
        self._bind_in_database(api_key_id, session_hash, account_id)

    @db_retry
    def _bound_in_database(self, api_key_id: str, session_hash: str) -> str | None:
        now = self.clock()
        with self.uow() as uow:
            found = uow.sticky_sessions.get((api_key_id, session_hash))
            if found is None or found.expires_at <= now:
                return None
            # Renewed at most once per tenth of the TTL: a write on every request buys nothing.
            if found.expires_at < now + self.ttl * 0.9:
                uow.sticky_sessions.extend(api_key_id, session_hash, now + self.ttl)
                uow.commit()
            return found.account_id

    @db_retry
    def _bind_in_database(self, api_key_id: str, session_hash: str, account_id: str) -> None:
        now = self.clock()
        with self.uow() as uow:
            # Bindings are made only for new or moving sessions: a cheap moment to sweep.
            uow.sticky_sessions.drop_expired(api_key_id, now)
            uow.sticky_sessions.put(api_key_id, session_hash, account_id, now + self.ttl)
            uow.commit()

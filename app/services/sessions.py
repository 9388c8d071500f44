"""SessionService: admin login and the SessionInterface of
docs/design/data-access-layer.md.

A session lives at most `max_lifetime` seconds from its creation: neither its TTL nor any
extendTTL takes it past that, and a session older than that (the setting was lowered) is over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Unpack

from app.cache import read_through
from app.db.models import Session
from app.errors import InvalidCredentials, InvalidInput, InvalidSession, RecordNotFound
from app.security import Passwords, new_session_token, sha256_hex
from app.services.base import Service, ServiceDeps
from app.services.login_throttle import LoginThrottle
from app.services.retry import db_retry

USER_TYPES = ("admin", "user")
INVALID_SESSION = "The session token is invalid or has expired."
BAD_LOGIN = "Invalid username or password."
# The cached session record's format (its Redis key carries it): 2 names its members in
# snake_case; an instance still on 1 (camelCase) reads and fills its own keys, never these.
SESSION_RECORD_VERSION = 2


class SessionService(Service):
    def __init__(self, *, passwords: Passwords, throttle: LoginThrottle,
                 default_ttl: int = 24 * 3600, max_lifetime: int = 30 * 24 * 3600,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.passwords = passwords
        self.throttle = throttle
        self.default_ttl = default_ttl
        self.max_lifetime = timedelta(seconds=max_lifetime)

    def login(self, username: str, password: str, *, ip_address: str | None = None,
              user_agent: str | None = None) -> dict:
        """A session for an admin. The throttle may refuse first (LimitExceeded); the hash is
        computed with no database connection held, so slow hashing cannot drain the pool."""
        self.throttle.check(ip_address, username)
        admin_id, password_hash = self._credentials(username)
        if not self.passwords.verify(password_hash, password):
            self.throttle.record_failure(ip_address, username)
            raise InvalidCredentials(BAD_LOGIN)
        new_hash = (self.passwords.hash(password) if self.passwords.needs_rehash(password_hash)
                    else None)
        return self._open_admin_session(admin_id, username, password_hash, new_hash, ip_address,
                                        user_agent)

    @db_retry
    def _credentials(self, username: str) -> tuple[str | None, str | None]:
        with self.uow() as uow:
            admin = uow.admins.get_by_username(username)
            return (admin.id, admin.password_hash) if admin else (None, None)

    @db_retry
    def _open_admin_session(self, admin_id, username, verified_hash, new_hash, ip_address,
                            user_agent) -> dict:
        with self.uow() as uow:
            admin = uow.admins.get(admin_id)
            if admin is None or admin.password_hash != verified_hash:
                # Deleted or given a new password while we were hashing.
                raise InvalidCredentials(BAD_LOGIN)
            if new_hash is not None:
                admin.password_hash = new_hash
            admin.last_login_at = self.clock()
            token, session = self._new_session(admin.id, "admin", {"username": username},
                                               self.default_ttl, ip_address, user_agent)
            uow.sessions.add(session)
            uow.commit()
        return {"session_token": token, "expires_at": session.expires_at}

    @db_retry
    def create(self, *, user_id: str, user_type: str, session_data: dict | None = None,
               ttl_seconds: int | None = None, ip_address: str | None = None,
               user_agent: str | None = None) -> dict:
        if user_type not in USER_TYPES:
            raise InvalidInput("userType must be 'admin' or 'user'.",
                               details={"userType": ["Must be one of: admin, user."]})
        with self.uow() as uow:
            if user_type == "admin" and uow.admins.get(user_id) is None:
                raise RecordNotFound("admin", by="userId")
            self._check_user(uow, user_type, user_id)
            token, session = self._new_session(user_id, user_type, session_data or {},
                                               ttl_seconds or self.default_ttl, ip_address,
                                               user_agent)
            uow.sessions.add(session)
            uow.commit()
        return {"session_token": token, "expires_at": session.expires_at}

    def _check_user(self, uow, user_type: str, user_id: str) -> None:
        if user_type == "user" and uow.users.get(user_id) is None:
            raise RecordNotFound("user", by="userId")

    def _new_session(self, user_id, user_type, data, ttl, ip_address, user_agent):
        token, now = new_session_token(), self.clock()
        session = Session(
            token_hash=sha256_hex(token), user_id=user_id, user_type=user_type,
            session_data=data, ip_address=ip_address, user_agent=user_agent, created_at=now,
            expires_at=min(now + timedelta(seconds=ttl), now + self.max_lifetime),
        )
        return token, session

    def _expiry(self, session: Session) -> datetime:
        return min(session.expires_at, session.created_at + self.max_lifetime)

    def validate(self, token: str) -> dict:
        """The session behind a token, or Unauthenticated; expiry is checked on every call."""
        return self.accept(self._lookup(sha256_hex(token)))

    def accept(self, found: dict | None) -> dict:
        """A session record, if it is still valid now; else Unauthenticated."""
        if found is None or found["expires_at"] <= self.clock():
            raise InvalidSession(INVALID_SESSION)
        return {**found, "is_valid": True}

    def record_key(self, token_hash: str) -> str:
        """Where the record of a session is cached (the quota check reads it directly)."""
        return self._lookup.value_key(self.cache, token_hash)

    @read_through("session", key=lambda token_hash: token_hash, version=SESSION_RECORD_VERSION)
    @db_retry
    def _lookup(self, token_hash: str) -> dict | None:
        with self.uow() as uow:
            session = uow.sessions.get_by_token_hash(token_hash)
            if session is None:
                return None
            return {"user_id": session.user_id, "user_type": session.user_type,
                    "session_data": session.session_data, "expires_at": self._expiry(session)}

    @db_retry
    def update(self, token: str, *, session_data: dict | None = None,
               extend_ttl: int | None = None) -> dict:
        token_hash = sha256_hex(token)
        with self.uow() as uow:
            session = self._live(uow, token_hash)
            if session_data is not None:
                # PATCH semantics: the given members replace theirs, the rest stay.
                session.session_data = {**session.session_data, **session_data}
            if extend_ttl:
                extended = self._expiry(session) + timedelta(seconds=extend_ttl)
                session.expires_at = min(extended, session.created_at + self.max_lifetime)
            uow.commit()
        self._lookup.invalidate(self.cache, token_hash)
        return {"expires_at": session.expires_at}

    @db_retry
    def delete(self, token: str) -> None:
        token_hash = sha256_hex(token)
        with self.uow() as uow:
            uow.sessions.delete(self._live(uow, token_hash))
            uow.commit()
        self._lookup.invalidate(self.cache, token_hash)

    @db_retry
    def revoke_all(self, token: str) -> dict:
        """End every session of the token's user (its own included); other users' stay."""
        with self.uow() as uow:
            session = self._live(uow, sha256_hex(token))
            token_hashes = uow.sessions.delete_for_user(session.user_id, session.user_type)
            uow.commit()
        for token_hash in token_hashes:
            self._lookup.invalidate(self.cache, token_hash)
        return {"revoked_sessions": len(token_hashes)}

    @db_retry
    def cleanup_expired(self) -> dict:
        with self.uow() as uow:
            deleted = uow.sessions.delete_expired(self.clock())
            uow.commit()
        return {"deleted_sessions": deleted}

    def _live(self, uow, token_hash: str) -> Session:
        session = uow.sessions.get_by_token_hash(token_hash)
        if session is None or self._expiry(session) <= self.clock():
            raise InvalidSession(INVALID_SESSION)
        return session

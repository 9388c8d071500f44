"""AuthService: who is calling, from the Authorization or x-api-key header."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import (
    Forbidden,
    InvalidApiKey,
    MissingApiKey,
    MissingSession,
    Unauthenticated,
)
from app.security import SESSION_PREFIX, sha256_hex
from app.services.keys.service import KeyService
from app.services.sessions import SessionService


@dataclass(frozen=True)
class Principal:
    kind: str  # 'admin' | 'user' | 'api_key'
    id: str
    token: str | None = None
    data: dict = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


@dataclass(frozen=True)
class Credential:
    """A token as presented, not yet checked: an API key or a session token."""

    kind: str  # 'api_key' | 'session'
    token: str

    @property
    def hashed(self) -> str:
        return sha256_hex(self.token)


_FETCH = object()


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class AuthService:
    def __init__(self, *, keys: KeyService, sessions: SessionService) -> None:
        self.keys = keys
        self.sessions = sessions

    def api_key(self, *, authorization: str | None, x_api_key: str | None) -> Principal:
        token = x_api_key or _bearer(authorization)
        if not token:
            raise MissingApiKey("An API key is required.")
        if token.startswith(SESSION_PREFIX):
            raise InvalidApiKey("The API key is invalid.")
        key = self.keys.authenticate(token)
        return Principal("api_key", key["id"], token, key)

    def session(self, *, authorization: str | None, x_api_key: str | None) -> Principal:
        token = _bearer(authorization)
        if not token or not token.startswith(SESSION_PREFIX):
            raise MissingSession("A session token is required.")
        found = self.sessions.validate(token)
        return Principal(found["user_type"], found["user_id"], token, found)

    def credential(self, *, authorization: str | None, x_api_key: str | None) -> Credential:
        """Which kind of token the caller presents (no lookup yet): a key or a session."""
        bearer = _bearer(authorization)
        token = x_api_key or (bearer if bearer and not bearer.startswith(SESSION_PREFIX)
                              else None)
        if token:
            if token.startswith(SESSION_PREFIX):
                raise InvalidApiKey("The API key is invalid.")
            return Credential("api_key", token)
        if bearer:
            return Credential("session", bearer)
        raise Unauthenticated("An API key or a session token is required.")

    def principal(self, credential: Credential, record=_FETCH) -> Principal:
        """Who presents `credential`; `record`, when given, is its cached record (no lookup)."""
        if credential.kind == "session":
            found = (self.sessions.validate(credential.token) if record is _FETCH
                     else self.sessions.accept(record))
            return Principal(found["user_type"], found["user_id"], credential.token, found)
        key = (self.keys.authenticate(credential.token) if record is _FETCH
               else self.keys.accept(record))
        return Principal("api_key", key["id"], credential.token, key)

    def record_key(self, credential: Credential) -> str:
        """Where the credential's record is cached in Redis."""
        if credential.kind == "session":
            return self.sessions.record_key(credential.hashed)
        return self.keys.record_key_for(credential.token)

    def admin_or_api_key(self, *, authorization: str | None, x_api_key: str | None) -> Principal:
        """An admin session, or an API key (which then may act on itself only)."""
        token = _bearer(authorization)
        if x_api_key or (token and not token.startswith(SESSION_PREFIX)):
            return self.api_key(authorization=authorization, x_api_key=x_api_key)
        return self.admin(authorization=authorization, x_api_key=None)

    def admin(self, *, authorization: str | None, x_api_key: str | None) -> Principal:
        token = _bearer(authorization)
        if token and token.startswith(SESSION_PREFIX):
            principal = self.session(authorization=authorization, x_api_key=None)
        elif token or x_api_key:
            principal = self.api_key(authorization=authorization, x_api_key=x_api_key)
        else:
            raise Unauthenticated("An admin session token is required.")
        if not principal.is_admin:
            raise Forbidden("This route is for admins only.")
        return principal

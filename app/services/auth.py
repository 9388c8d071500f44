"""AuthService: who is calling, from the Authorization or x-api-key header."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import Forbidden, Unauthenticated
from app.security import SESSION_PREFIX
from app.services.keys import KeyService
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


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class AuthService:
    def __init__(self, *, keys: KeyService, sessions: SessionService):
        self.keys = keys
        self.sessions = sessions

    def api_key(self, *, authorization: str | None, x_api_key: str | None) -> Principal:
        token = x_api_key or _bearer(authorization)
        if not token:
            raise Unauthenticated("An API key is required.", code="MISSING_API_KEY")
        if token.startswith(SESSION_PREFIX):
            raise Unauthenticated("The API key is invalid.", code="INVALID_API_KEY")
        key = self.keys.authenticate(token)
        return Principal("api_key", key["id"], token, key)

    def session(self, *, authorization: str | None, x_api_key: str | None) -> Principal:
        token = _bearer(authorization)
        if not token or not token.startswith(SESSION_PREFIX):
            raise Unauthenticated("A session token is required.", code="MISSING_SESSION")
        found = self.sessions.validate(token)
        return Principal(found["userType"], found["userId"], token, found)

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
            raise Unauthenticated("An admin session token is required.", code="UNAUTHORIZED")
        if not principal.is_admin:
            raise Forbidden("This route is for admins only.", code="FORBIDDEN")
        return principal

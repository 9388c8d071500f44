"""Tokens, hashes and passwords."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import Unavailable

API_KEY_PREFIX = "rg_"
SESSION_PREFIX = "rgs_"
# bcrypt hashes (imported admins of claude-relay-service) are verified until the next login
# replaces them with argon2id.
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_MAX_BYTES = 72


# A credential in a URL's query: Google's clients may send their API key as `?key=`.
_URL_SECRET = re.compile(r"([?&](?:key|api_key|access_token)=)[^&\s\"#]*", re.IGNORECASE)
REDACTED = "[REDACTED]"


def redact_url_secrets(text: str) -> str:
    """`text` with the value of every credential query parameter (`key=`...) replaced."""
    return _URL_SECRET.sub(rf"\g<1>{REDACTED}", text) if "=" in text else text


class UrlSecretFilter(logging.Filter):
    """Rewrites a log record whose message holds a URL's credential (an access log line, a
    request-line error), so no handler ever sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def keep_url_secrets_out_of(logger: logging.Logger) -> None:
    """Filter `logger`'s records through UrlSecretFilter (once, however often asked)."""
    if not any(isinstance(each, UrlSecretFilter) for each in logger.filters):
        logger.addFilter(UrlSecretFilter())


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_hex(32)


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


class Passwords:
    """argon2id hashing; the cost parameters are settings (argon2-cffi's defaults otherwise).

    At most `concurrency` hashes run at once in a process (each takes `memory_kib`); a caller
    waits up to `wait_seconds` for its turn, then gets Unavailable (503 with Retry-After)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, concurrency: int = 4,
                 wait_seconds: float = 5.0):
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._turns = threading.BoundedSemaphore(max(1, concurrency))
        self._wait_seconds = wait_seconds
        # Verifying against this keeps "unknown user" as slow as "wrong password".
        self._dummy = self._hasher.hash("relaygate-dummy-password")

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if not self._turns.acquire(timeout=self._wait_seconds):
            raise Unavailable("Too many logins at once; try again shortly.", code="LOGIN_BUSY",
                              retry_after=1)
        try:
            yield
        finally:
            self._turns.release()

    def hash(self, password: str) -> str:
        with self._turn():
            return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        with self._turn():
            if password_hash is not None and password_hash.startswith(BCRYPT_PREFIXES):
                return _bcrypt_verify(password_hash, password)
            try:
                matched = self._hasher.verify(password_hash or self._dummy, password)
            except (VerificationError, InvalidHashError):
                return False
            return matched and password_hash is not None

    @staticmethod
    def needs_rehash(password_hash: str) -> bool:
        """Whether a verified hash is of an older scheme, to be replaced by argon2id."""
        return password_hash.startswith(BCRYPT_PREFIXES)


def _bcrypt_verify(password_hash: str, password: str) -> bool:
    # bcryptjs, which wrote these hashes, reads only the first 72 bytes of a password.
    secret = password.encode()[:BCRYPT_MAX_BYTES]
    try:
        return bcrypt.checkpw(secret, password_hash.encode())
    except ValueError:
        return False


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

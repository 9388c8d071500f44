"""Tokens, hashes and passwords."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

API_KEY_PREFIX = "rg_"
SESSION_PREFIX = "rgs_"
# bcrypt hashes (imported admins of claude-relay-service) are verified until the next login
# replaces them with argon2id.
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_MAX_BYTES = 72


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_hex(32)


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


class Passwords:
    """argon2id hashing; the cost parameters are settings (argon2-cffi's defaults otherwise)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536):
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        # Verifying against this keeps "unknown user" as slow as "wrong password".
        self._dummy = self._hasher.hash("relaygate-dummy-password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
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

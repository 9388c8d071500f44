"""Secrets at rest: AES-256-GCM under keys derived from RELAYGATE_SECRET_KEY, with key ids.

A stored value is one self-describing text, `rg1:<kid>:<base64url(nonce || ciphertext+tag)>`,
so any service (including the importer of another system's data) calls just
`box.encrypt(plaintext) -> stored` and `box.decrypt(stored) -> plaintext`. The key id names the
derived key that sealed the value; after the master secret changes, values sealed under an
older key still open as long as that secret is listed in RELAYGATE_SECRET_KEY_PREVIOUS, and
`flask --app wsgi rotate-secrets` re-seals them all under the current key.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "rg1"
_NONCE_BYTES = 12
# Distinct HKDF labels keep this key apart from anything else derived from the same secret
# (Flask signs its cookies with the raw SECRET_KEY).
_SALT = b"relaygate/secrets-at-rest"
_INFO = b"aes-256-gcm v1"


class SecretError(ValueError):
    """A stored secret cannot be opened: unknown key id, or tampered or corrupt data."""


def derive_key(master_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        master_secret.encode()
    )


def key_id(derived_key: bytes) -> str:
    """A short public name of a derived key; a hash of it reveals nothing usable."""
    return hashlib.sha256(b"relaygate-kid:" + derived_key).hexdigest()[:12]


class SecretBox:
    """Seals with the current master secret; opens with it or any previous one."""

    def __init__(self, master_secret: str, previous_secrets: Iterable[str] = ()):
        if not master_secret:
            raise ValueError("a master secret is required")
        current = derive_key(master_secret)
        self.kid = key_id(current)
        self._current = AESGCM(current)
        self._keys = {self.kid: self._current}
        self._add_previous(previous_secrets)

    def _add_previous(self, previous_secrets: Iterable[str]) -> None:
        for secret in previous_secrets:
            if secret:
                derived = derive_key(secret)
                self._keys.setdefault(key_id(derived), AESGCM(derived))

    def with_previous(self, previous_secrets: Iterable[str]) -> SecretBox:
        """The same box that can also open values sealed under `previous_secrets`."""
        box = copy.copy(self)
        box._keys = dict(self._keys)
        box._add_previous(previous_secrets)
        return box

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.encrypt(nonce, plaintext.encode(), self.kid.encode())
        return f"{PREFIX}:{self.kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str) -> str:
        kid, blob = _split(stored)
        cipher = self._keys.get(kid)
        if cipher is None:
            raise SecretError(
                f"no key with id {kid} is configured; set RELAYGATE_SECRET_KEY_PREVIOUS to the "
                "secret that sealed it"
            )
        try:
            return cipher.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], kid.encode()).decode()
        except InvalidTag as error:
            raise SecretError("a stored secret failed authentication") from error

    def encrypt_optional(self, plaintext: str | None) -> str | None:
        return None if plaintext is None else self.encrypt(plaintext)

    def decrypt_optional(self, stored: str | None) -> str | None:
        return None if stored is None else self.decrypt(stored)

    def is_current(self, stored: str) -> bool:
        return _split(stored)[0] == self.kid

    def reseal(self, stored: str) -> str:
        """The same secret sealed under the current key (unchanged if it already is)."""
        return stored if self.is_current(stored) else self.encrypt(self.decrypt(stored))


def _split(stored: str) -> tuple[str, bytes]:
    parts = stored.split(":")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise SecretError("not a sealed secret")
    try:
        blob = base64.urlsafe_b64decode(parts[2])
    except ValueError as error:
        raise SecretError("a stored secret is corrupt") from error
    if len(blob) <= _NONCE_BYTES:
        raise SecretError("a stored secret is corrupt")
    return parts[1], blob


def mask(secret: str | None) -> str | None:
    """Enough of a secret to recognise it, never enough to use it."""
    if secret is None:
        return None
    if len(secret) < 16:
        return "****"
    return f"{secret[:4]}...{secret[-4:]}"

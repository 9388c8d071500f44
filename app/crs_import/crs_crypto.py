"""Decrypt claude-relay-service secrets exactly as its Node services encrypt them."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# Each CRS account service derives its AES key with scrypt over ENCRYPTION_KEY and its own salt.
SALTS: dict[str, bytes] = {
    "claude_oauth": b"salt",
    "claude_console": b"claude-console-salt",
    "gemini": b"gemini-account-salt",
    "gemini_api": b"gemini-api-salt",
    "openai": b"openai-account-salt",
    "openai_responses": b"openai-responses-salt",
    "azure_openai": b"azure-openai-account-default-salt",
}

_ENCRYPTED = re.compile(r"^([0-9a-fA-F]{32}):((?:[0-9a-fA-F]{32})+)$")
_LEGACY = re.compile(r"^(?:[0-9a-fA-F]{32})+$")


class DecryptionFailed(ValueError):
    """A value in the encrypted format did not decrypt with the given key."""


class WrongEncryptionKey(RuntimeError):
    """The --crs-encryption-key does not decrypt the source's secrets."""


def looks_encrypted(value: object) -> bool:
    """Tell whether a value has the `hex(16-byte iv):hex(whole AES blocks)` form."""
    return isinstance(value, str) and _ENCRYPTED.match(value) is not None


def _aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> str:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def _evp_bytes_to_key(secret: bytes) -> tuple[bytes, bytes]:
    # Node's deprecated createDecipher: MD5 chain, no salt, one round; 32-byte key + 16-byte IV.
    derived, block = b"", b""
    while len(derived) < 48:
        block = hashlib.md5(block + secret).digest()
        derived += block
    return derived[:32], derived[32:48]


@functools.lru_cache(maxsize=32)
def _scrypt_key(secret: bytes, salt: bytes) -> bytes:
    # Cached for the process: scrypt is deliberately slow, and a run reads the store repeatedly.
    return hashlib.scrypt(secret, salt=salt, n=16384, r=8, p=1, dklen=32)


class CrsCipher:
    """Decrypts CRS values with the keys its services derive from ENCRYPTION_KEY."""

    def __init__(self, encryption_key: str) -> None:
        self._secret = encryption_key.encode("utf-8")

    def _key(self, salt: bytes) -> bytes:
        return _scrypt_key(self._secret, salt)

    def decrypt(self, value: str, salt: bytes, *, legacy: bool = False) -> str:
        """Return the plaintext of `hex(iv):hex(ct)`; anything else passes through unchanged.

        Raises DecryptionFailed when a value has the encrypted form but does not decrypt, so a
        wrong key is noticed instead of ciphertext being imported as a token. With `legacy`,
        very old Claude rows (hex without an IV) are tried with Node's createDecipher and
        passed through when that fails, as CRS itself does.
        """
        match = _ENCRYPTED.match(value or "")
        if match is None:
            return self._legacy_decrypt(value) if legacy and value else (value or "")
        iv, ciphertext = (bytes.fromhex(part) for part in match.groups())
        try:
            return _aes_cbc_decrypt(self._key(salt), iv, ciphertext)
        except (ValueError, UnicodeDecodeError):
            raise DecryptionFailed("value does not decrypt with this ENCRYPTION_KEY") from None

    def _legacy_decrypt(self, value: str) -> str:
        if not _LEGACY.match(value):
            return value
        try:
            return _aes_cbc_decrypt(*_evp_bytes_to_key(self._secret), bytes.fromhex(value))
        except (ValueError, UnicodeDecodeError):
            return value

    def decrypt_bedrock(self, blob: Any) -> Any:
        """Decrypt Bedrock's `{encrypted, iv}` JSON form (AES key = sha256(ENCRYPTION_KEY)).

        The plaintext is the JSON the Node side stringified; other values pass through.
        """
        if not (isinstance(blob, dict) and blob.get("encrypted") and blob.get("iv")):
            return blob
        try:
            key = hashlib.sha256(self._secret).digest()
            text = _aes_cbc_decrypt(
                key, bytes.fromhex(blob["iv"]), bytes.fromhex(blob["encrypted"])
            )
        except (ValueError, UnicodeDecodeError):
            raise DecryptionFailed("value does not decrypt with this ENCRYPTION_KEY") from None
        try:
            return json.loads(text)
        except ValueError:
            return text

"""LegacyKeyHashes: keys imported from another gateway keep working under their own hashing.

claude-relay-service stores `sha256_hex(plaintext + ENCRYPTION_KEY)` for its `cr_...` keys, so
an imported key cannot be found by our plain SHA-256. The import stores that secret (sealed by
the SecretBox) as a pepper of the scheme; a presented `cr_...` key is hashed with each pepper
and looked up by hash like any other key, on the same cached validation path. The peppers are
kept in process memory for a minute: they change only when an import runs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Unpack

from app.crypto import SecretBox, SecretError
from app.db.models import KeyHashPepper
from app.security import constant_time_equal, sha256_hex
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

log = logging.getLogger(__name__)

OUR_SCHEME = "sha256"
CRS_SCHEME = "crs_sha256"
CRS_PREFIX = "cr_"


def crs_key_hash(plaintext: str, pepper: str) -> str:
    """How claude-relay-service hashes a key (its `hashApiKey`)."""
    return sha256_hex(plaintext + pepper)


class LegacyKeyHashes(Service):
    def __init__(self, *, box: SecretBox, refresh_seconds: float = 60.0,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.box = box
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._peppers: list[str] = []
        self._loaded_at: float | None = None

    def lookups(self, token: str) -> list[tuple[str, str]]:
        """(hash, scheme) pairs a presented key may be stored under, most likely first."""
        if token.startswith(CRS_PREFIX):
            return [(crs_key_hash(token, pepper), CRS_SCHEME) for pepper in self.peppers()]
        return [(sha256_hex(token), OUR_SCHEME)]

    def peppers(self) -> list[str]:
        with self._lock:
            fresh = (self._loaded_at is not None
                     and time.monotonic() - self._loaded_at < self.refresh_seconds)
            if not fresh:
                self._peppers, self._loaded_at = self._load(), time.monotonic()
            return list(self._peppers)

    @db_retry
    def _load(self) -> list[str]:
        with self.uow() as uow:
            rows = uow.key_hash_peppers.list_for(CRS_SCHEME)
        opened = []
        for row in rows:
            try:
                opened.append(self.box.decrypt(row.secret_sealed))
            except SecretError as error:
                # Keys hashed with it stop working; every other key still does.
                log.error("key hash pepper %s cannot be opened: %s", row.id, error)
        return opened

    @db_retry
    def remember(self, pepper: str, scheme: str = CRS_SCHEME) -> bool:
        """Store a scheme's secret unless it is stored already; True when it was added."""
        with self.uow() as uow:
            for row in uow.key_hash_peppers.list_for(scheme):
                try:
                    if constant_time_equal(self.box.decrypt(row.secret_sealed), pepper):
                        return False
                except SecretError:
                    continue
            uow.key_hash_peppers.add(KeyHashPepper(scheme=scheme,
                                                   secret_sealed=self.box.encrypt(pepper),
                                                   created_at=self.clock()))
            uow.commit()
        with self._lock:
            self._loaded_at = None
        return True

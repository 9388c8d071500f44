"""KeyService: the ApiKeyInterface of docs/design/data-access-layer.md."""

from __future__ import annotations

import math
from datetime import UTC

from app.cache import read_through
from app.db.models import ApiKey, ApiKeyTag
from app.db.repositories.api_keys import SORTABLE_COLUMNS, KeyFilter
from app.errors import InvalidInput, RecordNotFound, Unauthenticated
from app.security import new_api_key, sha256_hex
from app.services.base import Service
from app.services.keys import permissions as perms
from app.services.keys.legacy_hashes import OUR_SCHEME, LegacyKeyHashes
from app.services.retry import db_retry

INVALID_KEY = "The API key is invalid."
EDITABLE = ("name", "description", "token_limit", "concurrency_limit", "daily_cost_limit",
            "requests_per_minute", "expires_at", "user_id", "is_active")


class IssuedKey:
    """A key just created, with its plaintext: the one object that ever holds both."""

    def __init__(self, key: ApiKey, plaintext: str):
        self._key = key
        self.api_key = plaintext

    def __getattr__(self, name):
        return getattr(self._key, name)



class KeyService(Service):
    def __init__(self, *, legacy: LegacyKeyHashes | None = None, **kwargs):
        super().__init__(**kwargs)
        self.legacy = legacy

    @db_retry
    def create(self, data: dict) -> IssuedKey:
        """A new key and its plaintext; the plaintext is returned here once and stored nowhere."""
        plaintext = new_api_key()
        now = self.clock()
        key = ApiKey(hashed_key=sha256_hex(plaintext), created_at=now, updated_at=now,
                     permissions=self._permissions(data.get("permissions")), tag_rows=[])
        if data.get("id"):
            key.id = data["id"]
        self._apply(key, data)
        with self.uow() as uow:
            self._check_owner(uow, key.user_id)
            uow.api_keys.add(key)
            uow.commit()
        return IssuedKey(key, plaintext)

    @db_retry
    def get(self, key_id: str) -> ApiKey:
        with self.uow() as uow:
            key = uow.api_keys.get(key_id)
            if key is None or key.is_deleted:
                raise RecordNotFound("API key")
            return key

    @db_retry
    def names(self, key_ids: list[str]) -> dict[str, str]:
        """{id: name} of the keys that exist among `key_ids` (deleted ones included)."""
        with self.uow() as uow:
            return uow.api_keys.names(key_ids) if key_ids else {}

    @db_retry
    def update(self, key_id: str, changes: dict) -> ApiKey:
        with self.uow() as uow:
            key = uow.api_keys.get(key_id)
            if key is None or key.is_deleted:
                raise RecordNotFound("API key")
            if "permissions" in changes:
                key.permissions = self._permissions(changes["permissions"])
            if "user_id" in changes:
                self._check_owner(uow, changes["user_id"])
            self._apply(key, changes)
            key.updated_at = self.clock()
            uow.commit()
        self.validate.invalidate(self.cache, key.hashed_key)
        return key

    @db_retry
    def delete(self, key_id: str) -> None:
        """Soft delete: the key stops working, its row and usage history stay."""
        with self.uow() as uow:
            key = uow.api_keys.get(key_id)
            if key is None or key.is_deleted:
                raise RecordNotFound("API key")
            key.is_deleted, key.is_active = True, False
            key.deleted_at = key.updated_at = self.clock()
            uow.commit()
        self.validate.invalidate(self.cache, key.hashed_key)

    @db_retry
    def list(self, *, is_active=None, permissions=None, tags=(), include_deleted=False,
             limit=20, offset=0, sort_by="created_at", sort_order="DESC",
             search: str | None = None) -> dict:
        if sort_by not in SORTABLE_COLUMNS:
            raise InvalidInput("Unknown sortBy field.", details={"sortBy": ["Unknown field."]})
        filters = KeyFilter(is_active=is_active, provider=permissions, tags=tuple(tags or ()),
                            include_deleted=include_deleted, search=search or None)
        with self.uow() as uow:
            keys, total = uow.api_keys.list_page(filters, sort_by=sort_by,
                                                 descending=sort_order == "DESC",
                                                 limit=limit, offset=offset)
        return {"keys": keys, "total": total, "page": offset // limit + 1,
                "totalPages": math.ceil(total / limit)}

    @read_through("apikey", key=lambda hashed_key: hashed_key)
    @db_retry
    def validate(self, hashed_key: str) -> dict | None:
        """validateApiKey: the seed's shape plus what authentication needs; None if unknown."""
        with self.uow() as uow:
            key = uow.api_keys.get_by_hash(hashed_key)
            if key is None or key.is_deleted:
                return None
            return {
                "id": key.id, "permissions": perms.public(key.permissions),
                "isActive": key.is_active, "expiresAt": key.expires_at,
                "rateLimits": {"concurrency": key.concurrency_limit,
                               "daily": key.daily_cost_limit,
                               "requests": key.requests_per_minute},
                "tokenLimit": key.token_limit, "userId": key.user_id,
                "allowedProviders": key.permissions, "hashScheme": key.hash_scheme,
            }

    def authenticate(self, plaintext: str, *, fresh: bool = False) -> dict:
        """The key's validation record, or Unauthenticated with one message for every cause.

        `fresh` reads the database rather than the cache (the synchronous chat path). Imported
        keys (`cr_...`) are looked up under their own scheme's hash, never ours."""
        for hashed, scheme in self._lookups(plaintext):
            found = self.validate.uncached(self, hashed) if fresh else self.validate(hashed)
            if found is not None and found.get("hashScheme", OUR_SCHEME) == scheme:
                return self.accept(found)
        return self.accept(None)

    def _lookups(self, plaintext: str) -> list[tuple[str, str]]:
        if self.legacy is None:
            return [(sha256_hex(plaintext), OUR_SCHEME)]
        return self.legacy.lookups(plaintext)

    def record_key_for(self, plaintext: str) -> str:
        """Where the record of a presented key is cached (its first lookup hash)."""
        lookups = self._lookups(plaintext)
        return self.record_key(lookups[0][0] if lookups else sha256_hex(plaintext))

    def accept(self, found: dict | None) -> dict:
        """A validation record, if it lets its holder in now; else Unauthenticated."""
        if found is None or not found["isActive"]:
            raise Unauthenticated(INVALID_KEY, code="INVALID_API_KEY")
        expires_at = found["expiresAt"]
        if expires_at is not None and expires_at <= self.clock():
            raise Unauthenticated(INVALID_KEY, code="INVALID_API_KEY")
        return found

    def _permissions(self, value) -> str:
        try:
            return perms.canonical(value)
        except ValueError as error:
            raise InvalidInput(str(error), details={"permissions": [str(error)]}) from error

    def record_key(self, hashed_key: str) -> str:
        """Where validate() caches the record of a key (the quota check reads it directly)."""
        return self.validate.value_key(self.cache, hashed_key)

    def _check_owner(self, uow, user_id: str | None) -> None:
        if user_id is not None and uow.users.get(user_id) is None:
            raise RecordNotFound("user",
                                 details={"userId": ["No user has that id."]})

    def _apply(self, key: ApiKey, data: dict) -> None:
        for name in EDITABLE:
            if name in data:
                setattr(key, name, data[name])
        if key.expires_at is not None and key.expires_at.tzinfo is None:
            key.expires_at = key.expires_at.replace(tzinfo=UTC)
        if "tags" in data:
            key.tag_rows = [ApiKeyTag(tag=tag) for tag in sorted(set(data["tags"] or []))]

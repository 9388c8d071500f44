"""KeyService: the ApiKeyInterface of docs/design/data-access-layer.md."""

from __future__ import annotations

import builtins
import math
from datetime import UTC, timedelta
from typing import Any, Unpack

from app.cache import read_through
from app.db.models import ApiKey, ApiKeyBinding, ApiKeyTag
from app.db.repositories.api_keys import SORTABLE_COLUMNS, KeyFilter
from app.db.uow import JoinedUnitOfWork, UnitOfWork
from app.errors import InvalidInput, RecordNotFound, Unauthenticated
from app.security import new_api_key, sha256_hex
from app.services.base import Service, ServiceDeps
from app.services.keys import clients
from app.services.keys import permissions as perms
from app.services.keys.legacy_hashes import OUR_SCHEME, LegacyKeyHashes
from app.services.keys.periods import key_zone
from app.services.retry import db_retry

Work = UnitOfWork | JoinedUnitOfWork  # what self.uow() gives
INVALID_KEY = "The API key is invalid."
EDITABLE = ("name", "description", "token_limit", "concurrency_limit", "daily_cost_limit",
            "requests_per_minute", "expires_at", "user_id", "is_active", "activation_days",
            "activation_unit", "total_cost_limit", "weekly_cost_limit", "weekly_reset_day",
            "weekly_reset_hour", "weekly_cost_models", "time_zone", "window_limits")
ACTIVATION_UNITS = {"days": timedelta(days=1), "hours": timedelta(hours=1)}
# The cached key record's format (its Redis key carries it, as does the quota probe's read):
# 3 names its members in snake_case; an instance still on 2 (camelCase) reads and fills its
# own keys, never these, so neither misreads the other's record during a rolling deploy.
KEY_RECORD_VERSION = 3


def stored_window(limit: dict) -> dict:
    """A window limit as the JSON column keeps it: its limits that are set, cost as text."""
    stored: dict[str, int | str] = {"window": int(limit["window"])}
    for name in ("requests", "tokens"):
        if limit.get(name) is not None:
            stored[name] = int(limit[name])
    if limit.get("cost") is not None:
        stored["cost"] = str(limit["cost"])
    return stored


def limit_fields(key: Any) -> dict:
    """The spend and window limits of a key's validation record (keys/limits.py, key_windows.py),
    from its row (ORM or Core: the same attribute names)."""
    return {
        "cost_limits": {"total": key.total_cost_limit, "weekly": key.weekly_cost_limit,
                        "weekly_reset_day": key.weekly_reset_day,
                        "weekly_reset_hour": key.weekly_reset_hour,
                        "weekly_models": key.weekly_cost_models},
        "time_zone": key.time_zone,
        "window_limits": list(key.window_limits or []),
    }


def validation_record(rows: Any) -> dict | None:
    """The validation record (KeyService.validate) of a key's validation rows; None for no
    rows (an unknown hash) or a deleted key."""
    if not rows or rows[0].is_deleted:
        return None
    key = rows[0]
    return {
        "id": key.id, "permissions": perms.public(key.permissions),
        "is_active": key.is_active, "expires_at": key.expires_at,
        "rate_limits": {"concurrency": key.concurrency_limit,
                        "daily": key.daily_cost_limit,
                        "requests": key.requests_per_minute},
        "token_limit": key.token_limit, "user_id": key.user_id,
        "allowed_providers": key.permissions, "hash_scheme": key.hash_scheme,
        "allowed_models": list(key.allowed_models or []),
        "denied_models": list(key.denied_models or []),
        "allowed_clients": list(key.allowed_clients or []),
        "activation_days": key.activation_days, "activated_at": key.activated_at,
        # Each binding with the provider it binds (what the scheduler needs).
        "account_bindings": [
            ({"account_id": row.bound_account_id} if row.bound_account_id
             else {"group_id": row.bound_group_id}) | {"provider": row.bound_provider}
            for row in rows if row.bound_provider is not None],
        **limit_fields(key),
    }


class IssuedKey:
    """A key just created, with its plaintext: the one object that ever holds both."""

    def __init__(self, key: ApiKey, plaintext: str) -> None:
        self._key = key
        self.api_key = plaintext

    def __getattr__(self, name: str) -> Any:
        return getattr(self._key, name)



class KeyService(Service):
    def __init__(self, *, legacy: LegacyKeyHashes | None = None,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.legacy = legacy

    @db_retry
    def create(self, data: dict) -> IssuedKey:
        """A new key and its plaintext; the plaintext is returned here once and stored nowhere."""
        plaintext = new_api_key()
        now = self.clock()
        key = ApiKey(hashed_key=sha256_hex(plaintext), created_at=now, updated_at=now,
                     permissions=self._permissions(data.get("permissions")), tag_rows=[],
                     binding_rows=[])
        if data.get("id"):
            key.id = data["id"]
        self._apply(key, data)
        with self.uow() as uow:
            self._check_owner(uow, key.user_id)
            self._bind(uow, key, data)
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
            self._bind(uow, key, changes)
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
            key.binding_rows = []  # a deleted key holds no account or group from deletion
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
                "total_pages": math.ceil(total / limit)}

    @read_through("apikey", key=lambda hashed_key: hashed_key, version=KEY_RECORD_VERSION)
    @db_retry
    def validate(self, hashed_key: str) -> dict | None:
        """validateApiKey: the seed's shape plus what authentication needs; None if unknown."""
        # Reads only: autocommit spares the BEGIN's and the ROLLBACK's round trips.
        with self.uow.at_once() as uow:
            rows = uow.api_keys.validation_rows(hashed_key)
        return validation_record(rows)

    @db_retry
    def _validate_with_model(self, hashed_key: str, model: str) -> tuple[dict | None, Any]:
        with self.uow.at_once() as uow:
            rows, named = uow.api_keys.validation_rows_and_model(hashed_key, model)
        return validation_record(rows), named

    def activate(self, key: dict) -> None:
        """The first admitted request of a key whose expiry counts from its first use: its
        period starts now. Concurrent first uses start it once (a conditional UPDATE)."""
        # Checked before the retry policy is built: almost every request ends here.
        if key.get("activation_days") and key.get("activated_at") is None:
            self._activate(key)

    @db_retry
    def _activate(self, key: dict) -> None:
        now = self.clock()
        with self.uow() as uow:
            row = uow.api_keys.get(key["id"])
            if row is None or row.activated_at is not None or not row.activation_days:
                return
            period = row.activation_days * ACTIVATION_UNITS[row.activation_unit]
            uow.api_keys.activate(row.id, now, now + period)
            uow.commit()
            hashed = row.hashed_key
        self.validate.invalidate(self.cache, hashed)

    def authenticate(self, plaintext: str, *, fresh: bool = False) -> dict:
        """The key's validation record, or Unauthenticated with one message for every cause.

        `fresh` reads the database rather than the cache (the synchronous chat path). Imported
        keys (`cr_...`) are looked up under their own scheme's hash, never ours."""
        return self._accepted(self._lookups(plaintext), fresh=fresh)

    def authenticate_with_model(self, plaintext: str, model: str) -> tuple[dict, Any]:
        """`authenticate(plaintext, fresh=True)`, and the catalogue's row for `model` (as
        ModelService.resolve finds it; None when nothing is named so) read with the key in one
        statement: the synchronous chat route reads both fresh on every request."""
        lookups = self._lookups(plaintext)
        if not lookups:
            return self.accept(None), None
        found, named = self._validate_with_model(lookups[0][0], model)
        return self._accepted(lookups, fresh=True, first=(found,)), named

    def _accepted(self, lookups: builtins.list[tuple[str, str]], *, fresh: bool,
                  first: tuple[dict | None] | None = None) -> dict:
        """The first lookup's record that is of its scheme, accepted; `first`: the first
        lookup's record, read already."""
        for index, (hashed, scheme) in enumerate(lookups):
            if index == 0 and first is not None:
                found = first[0]
            else:
                found = self.validate.uncached(self, hashed) if fresh else self.validate(hashed)
            if found is not None and found.get("hash_scheme", OUR_SCHEME) == scheme:
                return self.accept(found)
        return self.accept(None)

    def _lookups(self, plaintext: str) -> builtins.list[tuple[str, str]]:
        if self.legacy is None:
            return [(sha256_hex(plaintext), OUR_SCHEME)]
        return self.legacy.lookups(plaintext)

    def cached_read(self, plaintext: str) -> tuple:
        """The cached read `authenticate` makes first for this key (for read_ahead)."""
        lookups = self._lookups(plaintext)
        return (KeyService.validate, (lookups[0][0] if lookups else sha256_hex(plaintext),))

    def record_key_for(self, plaintext: str) -> str:
        """Where the record of a presented key is cached (its first lookup hash)."""
        lookups = self._lookups(plaintext)
        return self.record_key(lookups[0][0] if lookups else sha256_hex(plaintext))

    def accept(self, found: dict | None) -> dict:
        """A validation record, if it lets its holder in now; else Unauthenticated."""
        if found is None or not found["is_active"]:
            raise Unauthenticated(INVALID_KEY, code="INVALID_API_KEY")
        expires_at = found["expires_at"]
        if expires_at is not None and expires_at <= self.clock():
            raise Unauthenticated(INVALID_KEY, code="INVALID_API_KEY")
        return found

    def _permissions(self, value: str | builtins.list[str] | None) -> str:
        try:
            return perms.canonical(value)
        except ValueError as error:
            raise InvalidInput(str(error), details={"permissions": [str(error)]}) from error

    def record_key(self, hashed_key: str) -> str:
        """Where validate() caches the record of a key (the quota check reads it directly)."""
        return self.validate.value_key(self.cache, hashed_key)

    def _check_owner(self, uow: Work, user_id: str | None) -> None:
        if user_id is not None and uow.users.get(user_id) is None:
            raise RecordNotFound("user",
                                 details={"userId": ["No user has that id."]})

    def _apply(self, key: ApiKey, data: dict) -> None:
        activation = bool(data.get("activation_days"))
        if activation and data.get("expires_at") is not None:
            both = "Give expiresAt or activationDays, not both."
            raise InvalidInput(both, details={"expiresAt": [both], "activationDays": [both]})
        if data.get("time_zone"):
            try:
                key_zone(data["time_zone"])
            except ValueError as error:
                raise InvalidInput(str(error), details={"timeZone": [str(error)]}) from error
        if data.get("window_limits") is not None:
            data = {**data, "window_limits": [stored_window(limit)
                                              for limit in data["window_limits"]]}
        for name in EDITABLE:
            if name in data:
                setattr(key, name, data[name])
        self._restrict(key, data)
        if data.get("expires_at") is not None:
            key.activation_days = None  # a fixed expiry replaces one counted from first use
        if "activation_days" in data or "activation_unit" in data:
            key.activation_unit = key.activation_unit or "days"
            if key.activation_days:
                key.expires_at = (key.activated_at + key.activation_days
                                  * ACTIVATION_UNITS[key.activation_unit]
                                  if key.activated_at else None)
        if key.expires_at is not None and key.expires_at.tzinfo is None:
            key.expires_at = key.expires_at.replace(tzinfo=UTC)
        if "tags" in data:
            key.tag_rows = [ApiKeyTag(tag=tag) for tag in sorted(set(data["tags"] or []))]

    @staticmethod
    def _restrict(key: ApiKey, data: dict) -> None:
        """The model and client lists, checked."""
        checks = {"allowed_models": ("allowedModels", perms.check_patterns),
                  "denied_models": ("deniedModels", perms.check_patterns),
                  "allowed_clients": ("allowedClients", clients.check)}
        for name, (field, check) in checks.items():
            if name not in data:
                continue
            try:
                setattr(key, name, check(list(data[name] or [])))
            except ValueError as error:
                raise InvalidInput(str(error), details={field: [str(error)]}) from error

    @staticmethod
    def _bind(uow: Work, key: ApiKey, data: dict) -> None:
        """Replace the key's account bindings, each an existing account or group."""
        if "account_bindings" not in data:
            return
        rows, seen = [], set()
        for binding in data["account_bindings"] or []:
            account_id, group_id = binding.get("account_id"), binding.get("group_id")
            if (account_id is None) == (group_id is None):
                raise InvalidInput("A binding names an accountId or a groupId.",
                                   details={"accountBindings": ["Give accountId or groupId."]})
            found = (uow.accounts.get(account_id) if account_id
                     else uow.account_groups.get(group_id))
            if found is None:
                what = f"account {account_id}" if account_id else f"account group {group_id}"
                raise InvalidInput(f"No {what} exists.",
                                   details={"accountBindings": [f"No {what}."]})
            if (account_id, group_id) not in seen:
                seen.add((account_id, group_id))
                rows.append(ApiKeyBinding(account_id=account_id, group_id=group_id))
        key.binding_rows = rows


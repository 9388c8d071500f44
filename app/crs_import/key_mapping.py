"""From a CRS API key to the columns of our key, and notes on what could not carry over.

Decisions (documented in the README's "Moving from claude-relay-service"):
- The stored hash is kept as it is, under hash scheme `crs_sha256`; no plaintext is needed.
- Permissions: `[]`/`'all'` become 'all'; names Relaygate does not relay are dropped (the key
  is narrowed, never widened); a key left with none is imported inactive.
- A CRS rate limit counts per window of `rateLimitWindow` minutes: a one-minute window is our
  requests-per-minute limit; any other window, and the cost limits other than the daily one,
  model and client restrictions, account bindings and service rates are reported, not enforced.
- An activation-mode key that was never used starts its period at the import.
- A CRS owner (`userId`) becomes the tag `crs-user:<username or id>`; the key keeps no
  Relaygate owner (CRS users have no e-mail to make one from), so it is its own quota subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.crs_import.crs_source import CrsApiKey
from app.vocabulary import PROVIDERS

NAME_LENGTH, TAG_LENGTH, MAX_TAGS = 100, 64, 50
_HASH = re.compile(r"^[0-9a-f]{64}$")
_ACTIVATION_UNITS = {"hours": timedelta(hours=1), "days": timedelta(days=1)}


@dataclass
class MappedKey:
    columns: dict[str, Any]
    tags: list[str]
    notes: list[str] = field(default_factory=list)


def _permissions(names: list[str], notes: list[str]) -> tuple[str, bool]:
    """('all' or a sorted comma list, still usable)."""
    if not names:
        return "all", True
    known = sorted(set(names) & set(PROVIDERS))
    dropped = sorted(set(names) - set(PROVIDERS))
    if dropped:
        notes.append(f"permission(s) {', '.join(dropped)} are not relayed by Relaygate: dropped")
    if not known:
        notes.append("no permission left that Relaygate relays: imported inactive")
        return "all", False
    return ",".join(known), True


def _tags(key: CrsApiKey, notes: list[str]) -> list[str]:
    tags = {tag.strip()[:TAG_LENGTH] for tag in key.tags if tag.strip()}
    if key.user_id or key.user_username:
        owner = f"crs-user:{key.user_username or key.user_id}"[:TAG_LENGTH]
        tags.add(owner)
        notes.append(f"owned by CRS user {key.user_username or '?'} ({key.user_id or '?'}): "
                     f"tagged {owner}, no Relaygate owner")
    ordered = sorted(tags)
    if len(ordered) > MAX_TAGS:
        notes.append(f"{len(ordered) - MAX_TAGS} tag(s) beyond {MAX_TAGS} dropped")
    return ordered[:MAX_TAGS]


def _rate_limit(key: CrsApiKey, notes: list[str]) -> int | None:
    window = key.rate_limit_window_minutes
    if window == 1 and not key.rate_limit_cost:
        return key.rate_limit_requests
    if key.rate_limit_requests or key.rate_limit_cost:
        parts = [f"{key.rate_limit_requests} requests"] if key.rate_limit_requests else []
        parts += [f"{key.rate_limit_cost} USD"] if key.rate_limit_cost else []
        notes.append(f"rate limit of {' and '.join(parts)} per {window or '?'} minute(s) is not "
                     "enforced by Relaygate (it limits requests per minute)")
    return None


def _expiry(key: CrsApiKey, now: datetime, notes: list[str]) -> datetime | None:
    if key.expiration_mode != "activation" or key.is_activated:
        return key.expires_at
    period = _ACTIVATION_UNITS.get(key.activation_unit or "days")
    if not key.activation_days or period is None:
        return key.expires_at
    expires = now + key.activation_days * period
    notes.append(f"activation period of {key.activation_days} {key.activation_unit or 'days'} "
                 f"starts at the import: expires {expires.isoformat()}")
    return expires


def _unenforced(key: CrsApiKey, notes: list[str]) -> None:
    limits = {"totalCostLimit": key.total_cost_limit,
              "weeklyOpusCostLimit": key.weekly_opus_cost_limit}
    for name, amount in limits.items():
        if amount:
            notes.append(f"{name} of {amount} USD is not enforced by Relaygate")
    if key.enable_model_restriction and key.restricted_models:
        notes.append(f"model blacklist {', '.join(key.restricted_models)} is not enforced")
    if key.enable_client_restriction and key.allowed_clients:
        notes.append(f"client allow-list {', '.join(key.allowed_clients)} is not enforced")
    if key.account_bindings:
        bound = ", ".join(f"{kind}={value}" for kind, value in sorted(key.account_bindings.items()))
        notes.append(f"bound to CRS account(s) {bound}: Relaygate serves it from the pool")
    if key.service_rates:
        notes.append("service rate multipliers are not applied to new usage")


def map_key(key: CrsApiKey, now: datetime) -> MappedKey | str:
    """Our key's columns, or the reason the key cannot be imported."""
    if not _HASH.match(key.key_hash or ""):
        return "the key has no SHA-256 hash (apiKey field)"
    notes: list[str] = []
    permissions, usable = _permissions(key.permissions, notes)
    created = key.created_at or now
    columns = {
        "name": (key.name or f"CRS key {key.id[:8]}")[:NAME_LENGTH],
        "description": key.description or None,
        "hashed_key": key.key_hash,
        "permissions": permissions,
        "token_limit": key.token_limit,
        "concurrency_limit": key.concurrency_limit,
        "daily_cost_limit": key.daily_cost_limit,
        "requests_per_minute": _rate_limit(key, notes),
        "expires_at": _expiry(key, now, notes),
        "user_id": None,
        "is_active": key.is_active and usable and not key.is_deleted,
        "is_deleted": key.is_deleted,
        "deleted_at": (key.deleted_at or now) if key.is_deleted else None,
        "created_at": created,
        "updated_at": key.updated_at or created,
        "last_used_at": key.last_used_at,
    }
    _unenforced(key, notes)
    return MappedKey(columns, _tags(key, notes), notes)


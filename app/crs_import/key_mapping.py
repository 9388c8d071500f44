"""From a CRS API key to the columns of our key, and notes on what could not carry over.

Decisions (documented in the README's "Moving from claude-relay-service"):
- The stored hash is kept as it is, under hash scheme `crs_sha256`; no plaintext is needed.
- Permissions: `[]`/`'all'` become 'all'; names Relaygate does not relay are dropped (the key
  is narrowed, never widened); a key left with none is imported inactive.
- `restrictedModels` (with `enableModelRestriction`) is CRS's blacklist on its Claude relay:
  our `deniedModels`, names matched exactly as CRS matches them (and every catalogue name of
  the entry). `allowedClients` (with `enableClientRestriction`) keeps the families Relaygate
  recognises (app/services/keys/clients.py); a key left with none is imported inactive.
- An activation-mode key that was never used keeps `activationDays`/`activationUnit`: its
  period starts at its first request here; one already activated keeps its expiry.
- Account bindings (`*AccountId`, `group:` prefixes) are mapped once accounts and groups are
  in (app/migration/bindings.py).
- A CRS rate limit (`rateLimitWindow` minutes with `rateLimitRequests`, and `tokenLimit` or,
  when that is unset, `rateLimitCost`: CRS checks the cost only without a token limit) becomes
  one window limit (ours slides, CRS's starts at the first request: ours is never looser); a
  one-minute window of requests alone is our requests-per-minute limit.
- `totalCostLimit` carries over; `weeklyOpusCostLimit` with `weeklyResetDay`/`weeklyResetHour`
  becomes the weekly cost limit on `claude-*` (CRS counts the whole Claude family in it); every
  imported key's days and weeks are in the source's TIMEZONE_OFFSET, as CRS counts them.
- Service rates are reported, not enforced.
- A CRS owner (`userId`) becomes the tag `crs-user:<username or id>`; the key keeps no
  Relaygate owner (CRS users have no e-mail to make one from), so it is its own quota subject.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.crs_import.crs_source import CrsApiKey
from app.services.keys.clients import FAMILIES
from app.services.keys.periods import offset_name
from app.vocabulary import PROVIDERS

NAME_LENGTH, TAG_LENGTH, MAX_TAGS = 100, 64, 50
_HASH = re.compile(r"^[0-9a-f]{64}$")
_ACTIVATION_UNITS = {"hours": timedelta(hours=1), "days": timedelta(days=1)}
# CRS's weekly "Opus" limit counts, and applies to, every Claude model.
CLAUDE_FAMILY = "claude-*"


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


def _per_minute(key: CrsApiKey) -> int | None:
    """A one-minute window of requests alone is our requests-per-minute limit."""
    if key.rate_limit_window_minutes == 1 and not key.rate_limit_cost and not key.token_limit:
        return key.rate_limit_requests
    return None


def _expiry(key: CrsApiKey, now: datetime, notes: list[str]) -> dict[str, Any]:
    """expires_at and the activation columns."""
    unit = key.activation_unit or "days"
    if (key.expiration_mode != "activation" or not key.activation_days
            or unit not in _ACTIVATION_UNITS):
        if key.expiration_mode == "activation" and not key.is_activated:
            notes.append(f"activation unit {unit!r} is unknown: the key keeps expiry "
                         f"{key.expires_at.isoformat() if key.expires_at else 'none'}")
        return {"expires_at": key.expires_at, "activation_days": None,
                "activation_unit": "days", "activated_at": None}
    if key.is_activated:
        return {"expires_at": key.expires_at, "activation_days": key.activation_days,
                "activation_unit": unit, "activated_at": key.activated_at or now}
    return {"expires_at": None, "activation_days": key.activation_days, "activation_unit": unit,
            "activated_at": None}


def activation_of(key: CrsApiKey) -> list | None:
    """[days, unit] of a key whose expiry counts from its first use, else None."""
    unit = key.activation_unit or "days"
    if key.expiration_mode != "activation" or not key.activation_days \
            or unit not in _ACTIVATION_UNITS:
        return None
    return [key.activation_days, unit]


def expected_clients(key: CrsApiKey) -> list[str]:
    """The key's client allow-list as Relaygate keeps it ([] when not restricted)."""
    if not (key.enable_client_restriction and key.allowed_clients):
        return []
    return [name for name in dict.fromkeys(key.allowed_clients) if name in FAMILIES]


def expected_denied_models(key: CrsApiKey) -> list[str]:
    if not (key.enable_model_restriction and key.restricted_models):
        return []
    # CRS compares names exactly: glob characters in a name are meant literally.
    return list(dict.fromkeys(glob.escape(name) for name in key.restricted_models if name))


def _clients(key: CrsApiKey, notes: list[str]) -> tuple[list[str], bool]:
    """(allowed clients, still usable)."""
    kept = expected_clients(key)
    if not (key.enable_client_restriction and key.allowed_clients):
        return kept, True
    dropped = sorted(set(key.allowed_clients) - set(kept))
    if dropped:
        notes.append(f"client(s) {', '.join(dropped)} are not recognised by Relaygate: dropped")
    if not kept:
        notes.append("no allowed client left that Relaygate recognises: imported inactive")
        return [], False
    return kept, True
def window_limits(key: CrsApiKey) -> list[dict]:
    """The window limit CRS enforces for a key (src/middleware/auth.js): within
    `rateLimitWindow` minutes, requests, then tokens (`tokenLimit`) or else cost."""
    window = key.rate_limit_window_minutes
    if not window or _per_minute(key):
        return []
    limit: dict = {"window": window}
    if key.rate_limit_requests:
        limit["requests"] = key.rate_limit_requests
    if key.token_limit:
        limit["tokens"] = key.token_limit
    elif key.rate_limit_cost:
        limit["cost"] = str(key.rate_limit_cost)
    return [limit] if len(limit) > 1 else []


def _window_notes(key: CrsApiKey, notes: list[str]) -> None:
    if key.rate_limit_cost and key.token_limit and key.rate_limit_window_minutes:
        notes.append(f"rate limit cost of {key.rate_limit_cost} USD is not imported: CRS does "
                     "not check it while the key has a tokenLimit")
    if not key.rate_limit_window_minutes and (key.rate_limit_requests or key.rate_limit_cost):
        notes.append("rate limit without a window (rateLimitWindow 0) is not enforced by CRS: "
                     "not imported")


def spend_columns(key: CrsApiKey, offset_hours: float) -> dict[str, Any]:
    """The key's cost and window limits and time zone as our columns (also what the
    verification compares)."""
    weekly = key.weekly_opus_cost_limit
    return {
        "daily_cost_limit": key.daily_cost_limit,
        "total_cost_limit": key.total_cost_limit,
        "weekly_cost_limit": weekly,
        "weekly_reset_day": key.weekly_reset_day if weekly else None,
        "weekly_reset_hour": key.weekly_reset_hour if weekly else None,
        "weekly_cost_models": CLAUDE_FAMILY if weekly else None,
        "time_zone": offset_name(offset_hours),
        "window_limits": window_limits(key) or None,
    }


def _unenforced(key: CrsApiKey, notes: list[str]) -> None:
    if key.service_rates:
        notes.append("service rate multipliers are not applied to new usage")


def map_key(key: CrsApiKey, now: datetime, offset_hours: float = 8) -> MappedKey | str:
    """Our key's columns, or the reason the key cannot be imported."""
    if not _HASH.match(key.key_hash or ""):
        return "the key has no SHA-256 hash (apiKey field)"
    notes: list[str] = []
    permissions, usable = _permissions(key.permissions, notes)
    allowed_clients, clients_usable = _clients(key, notes)
    created = key.created_at or now
    columns = {
        "name": (key.name or f"CRS key {key.id[:8]}")[:NAME_LENGTH],
        "description": key.description or None,
        "hashed_key": key.key_hash,
        "permissions": permissions,
        "token_limit": key.token_limit,
        "concurrency_limit": key.concurrency_limit,
        "requests_per_minute": _per_minute(key),
        **spend_columns(key, offset_hours),
        **_expiry(key, now, notes),
        "denied_models": expected_denied_models(key),
        "allowed_models": [],
        "allowed_clients": allowed_clients,
        "user_id": None,
        "is_active": key.is_active and usable and clients_usable and not key.is_deleted,
        "is_deleted": key.is_deleted,
        "deleted_at": (key.deleted_at or now) if key.is_deleted else None,
        "created_at": created,
        "updated_at": key.updated_at or created,
        "last_used_at": key.last_used_at,
    }
    _window_notes(key, notes)
    _unenforced(key, notes)
    return MappedKey(columns, _tags(key, notes), notes)


"""From a CRS account to the columns of our account: secrets still plain, sealed by the caller.

Decisions (documented in the README's "Moving from claude-relay-service"):
- Types: Claude OAuth, Gemini OAuth and OpenAI OAuth become OAuth accounts; Claude Console,
  Gemini API and OpenAI Responses become API-key accounts with their base URL. Azure OpenAI and
  Bedrock are skipped: Relaygate has no client for their APIs.
- Priority: CRS prefers 1 over 100, Relaygate the higher number: ours = 101 - theirs.
- Status: not `isActive` or not schedulable -> inactive; error-like states -> error; a rate
  limit still running -> rate_limited until its end; everything else -> active.
- `accountType` dedicated (bound to keys) or group (served through its groups): our
  `dedicated` flag, so no unbound key is handed it; shared: not dedicated.
- A proxy of type https (TLS to the proxy), which Relaygate does not speak, is kept as http and
  the account made inactive until someone checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.crs_import.crs_source import CrsAccount

NAME_LENGTH = 100
# CRS type -> (our provider, credential kind).
TYPES = {
    "claude_oauth": ("claude", "oauth"),
    "claude_console": ("claude", "api_key"),
    "gemini": ("gemini", "oauth"),
    "gemini_api": ("gemini", "api_key"),
    "openai": ("openai", "oauth"),
    "openai_responses": ("openai", "api_key"),
}
UNSUPPORTED = {
    "azure_openai": "Azure OpenAI (deployments and api-version) has no Relaygate client",
    "bedrock": "AWS Bedrock (SigV4 signing) has no Relaygate client",
}
_ERROR_STATES = {"error", "unauthorized", "blocked", "banned", "expired", "invalid"}
# CRS without an end time for a rate limit waits an hour (its default).
_DEFAULT_RATE_LIMIT = timedelta(hours=1)
_PROXY_TYPES = {"http": "http", "socks5": "socks5", "https": "http"}


@dataclass
class MappedAccount:
    columns: dict[str, Any]
    # Plaintext secrets by column name (`..._sealed`), sealed by the importer.
    secrets: dict[str, str | None]
    notes: list[str] = field(default_factory=list)


def _base_url(account: CrsAccount) -> str | None:
    raw = account.raw
    url = account.api_url or raw.get("baseApi") or None
    if not url:
        return None
    url = str(url).rstrip("/")
    # CRS appends /v1/messages to a Console URL unless it already ends with it; so does ours.
    return url.removesuffix("/v1/messages") if account.type == "claude_console" else url


def _proxy(account: CrsAccount, notes: list[str]) -> tuple[dict[str, Any], bool]:
    """Proxy columns and whether the account may stay in rotation."""
    proxy = account.proxy
    empty = {"proxy_type": None, "proxy_host": None, "proxy_port": None, "proxy_username": None}
    if not isinstance(proxy, dict) or not proxy.get("host"):
        return empty, True
    kind = str(proxy.get("type") or "http").lower()
    port = _port(proxy.get("port"))
    if port is None:
        notes.append(f"proxy {proxy.get('host')} has no valid port: account made inactive")
        return empty, False
    columns = {"proxy_type": _PROXY_TYPES.get(kind), "proxy_host": str(proxy["host"]),
               "proxy_port": port, "proxy_username": proxy.get("username") or None}
    if kind not in _PROXY_TYPES:
        notes.append(f"proxy type {kind} is not supported: account made inactive, no proxy")
        return empty, False
    if kind == "https":
        notes.append("proxy type https kept as http (Relaygate speaks http and socks5 to "
                     "proxies): account made inactive until checked")
        return columns, False
    return columns, True


def _port(value: object) -> int | None:
    """A TCP port (1-65535) from CRS's number or string; None when it is not one (a port
    outside the range would only fail later, at the first connection through the proxy)."""
    if not isinstance(value, int | float | str):
        return None
    try:
        port = int(value)
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _status(account: CrsAccount, now: datetime, in_rotation: bool,
            notes: list[str]) -> dict[str, Any]:
    status = account.status.lower()
    if status in _ERROR_STATES:
        message = account.raw.get("errorMessage") or f"CRS status: {account.status}"
        return {"status": "error", "error_message": str(message)}
    limited_until = None
    if account.rate_limit_status == "limited" or status == "rate_limited":
        limited_until = account.rate_limit_end_at or (
            account.rate_limited_at + _DEFAULT_RATE_LIMIT if account.rate_limited_at else None)
    if not (account.is_active and account.schedulable and in_rotation):
        if not account.schedulable:
            notes.append("not schedulable in CRS: imported inactive")
        return {"status": "inactive"}
    if limited_until is not None and limited_until > now:
        return {"status": "rate_limited", "rate_limit_reset_at": limited_until,
                "rate_limit_remaining": 0}
    return {"status": "active"}


def _credentials(account: CrsAccount, kind: str, now: datetime,
                 notes: list[str]) -> tuple[dict, dict] | str:
    if kind == "api_key":
        if not account.api_key:
            return "no API key"
        return ({"credential_kind": "api_key", "scopes": [], "token_expires_at": None},
                {"api_key_sealed": account.api_key, "access_token_sealed": None,
                 "refresh_token_sealed": None})
    if not (account.access_token or account.refresh_token):
        return "no OAuth token"
    expires = account.token_expires_at
    if not account.access_token:
        # Only a refresh token: due now, so the scheduler refreshes it before first use.
        expires = now
        notes.append("no access token: it is refreshed before first use")
    if account.id_token:
        notes.append("the OpenAI id token is not kept")
    return ({"credential_kind": "oauth", "scopes": list(account.scopes),
             "token_expires_at": expires},
            {"access_token_sealed": account.access_token,
             "refresh_token_sealed": account.refresh_token, "api_key_sealed": None})


def map_account(account: CrsAccount, now: datetime) -> MappedAccount | str:
    """Our account's columns, or why it is skipped."""
    if account.type in UNSUPPORTED:
        return f"unsupported type: {UNSUPPORTED[account.type]}"
    if account.undecryptable:
        return f"secret(s) {', '.join(account.undecryptable)} do not decrypt"
    provider, kind = TYPES[account.type]
    notes: list[str] = []
    credentials = _credentials(account, kind, now, notes)
    if isinstance(credentials, str):
        return credentials
    columns, secrets = credentials
    proxy_columns, proxy_ok = _proxy(account, notes)
    dedicated = account.account_type in ("dedicated", "group")
    password = (account.proxy or {}).get("password") if proxy_columns["proxy_host"] else None
    secrets["proxy_password_sealed"] = password or None
    columns |= proxy_columns | {
        "name": (account.name or f"CRS {account.type} {account.id[:8]}")[:NAME_LENGTH],
        "description": account.description or None,
        "provider": provider,
        "base_url": _base_url(account),
        "priority": max(0, 101 - account.priority),
        "max_concurrency": account.max_concurrency,
        "dedicated": dedicated,
        "last_used_at": account.last_used_at,
        "created_at": account.created_at or now,
        "updated_at": now,
        "error_message": None, "rate_limit_reset_at": None, "rate_limit_remaining": None,
    }
    columns |= _status(account, now, proxy_ok, notes)
    if account.daily_quota:
        notes.append(f"daily quota of {account.daily_quota} USD is not enforced")
    return MappedAccount(columns, secrets, notes)

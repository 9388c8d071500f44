"""The accounts a scheduler may pick from, cached: chat-fast chooses an account without SQL.

One cache entry holds every account that is active or resting (rate-limited), with what
choosing and calling it needs: status, priority, limits, and the credential still sealed (only
ciphertext reaches Redis). Every change to an account that matters for choosing or calling it
(status, priority, cool-down, credential, proxy, base URL; creation and deletion) calls
`forget` after its commit, so the next pick on any worker reads the database again. Usage
totals and `lastUsedAt` are left out of the entry: they change on every request.
"""

from __future__ import annotations

from app.cache import CacheStore, read_through
from app.db.models import Account
from app.services.base import Service
from app.services.retry import db_retry

FIELDS = ("id", "name", "provider", "credential_kind", "access_token_sealed", "api_key_sealed",
           "token_expires_at", "base_url", "proxy_type", "proxy_host", "proxy_port",
           "proxy_username", "proxy_password_sealed", "priority", "max_concurrency", "status",
           "rate_limit_reset_at", "cooldown_until", "dedicated",
           "supports_responses")


# Rows built from the pool's entries, by the entry's values: an ORM row costs ~0.1 ms to build,
# and the pool changes far less often than it is read (once per request).
_BUILT: dict[tuple, Account] = {}
_BUILT_MAX = 4096


def detached_row(fields: dict) -> Account:
    """The detached row for one pool entry (or a database pick of FIELDS), built once per
    distinct entry. Shared between
    requests and threads: nobody sets its attributes (a refreshed account is read anew)."""
    values = tuple(fields.values())
    row = _BUILT.get(values)
    if row is None:
        if len(_BUILT) >= _BUILT_MAX:  # entries of accounts changed since: start again
            _BUILT.clear()
            _SHARED.clear()
        row = _BUILT[values] = Account(**fields)
        _SHARED[id(row)] = row
    return row


# The rows detached_row built, by id: what is built from them (their provider client) may be
# kept with them, since nobody changes them.
_SHARED: dict[int, Account] = {}


def shared(account: Account) -> bool:
    """Whether `account` is one of the rows `detached_row` built (shared, never changed)."""
    return _SHARED.get(id(account)) is account


class AccountPool(Service):
    # The last entry read and its rows by provider: the entry is kept decoded in process while
    # its generation is unchanged, so the same list comes back until an account changes.
    _rows: tuple[list[dict], dict[str, list[Account]]] | None = None

    def accounts(self, provider: str) -> list[Account]:
        """The provider's active and resting accounts as detached rows (never to be saved,
        never to be changed: see `detached_row`)."""
        entry = self.schedulable()
        rows = self._rows
        if rows is None or rows[0] is not entry:
            rows = self._rows = (entry, {})
        found = rows[1].get(provider)
        if found is None:
            found = rows[1][provider] = [detached_row(fields) for fields in entry
                                         if fields["provider"] == provider]
        return found

    # Read on every request that picks from the pool: kept decoded in process while its
    # generation in Redis is unchanged (`forget` moves it).
    @read_through("schedulable-accounts", key=lambda: "all", version=3, in_process=True)
    @db_retry
    def schedulable(self) -> list[dict]:
        """Shared by every caller in the process: read it, never change it."""
        with self.uow() as uow:
            rows = uow.accounts.schedulable()
            return [{name: getattr(row, name) for name in FIELDS} for row in rows]


def may_serve(account: Account, only: frozenset[str] | None) -> bool:
    """May `account` serve a key whose bound accounts are `only` (None: the key is unbound)?"""
    return account.id in only if only is not None else not account.dedicated


def forget(cache: CacheStore | None) -> None:
    """An account changed: the next pick reads the database."""
    AccountPool.schedulable.invalidate(cache)

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
        row = _BUILT[values] = Account(**fields)
    return row


class AccountPool(Service):
    def accounts(self, provider: str) -> list[Account]:
        """The provider's active and resting accounts as detached rows (never to be saved,
        never to be changed: see `detached_row`)."""
        return [detached_row(fields) for fields in self.schedulable()
                if fields["provider"] == provider]

    @read_through("schedulable-accounts", key=lambda: "all", version=3)
    @db_retry
    def schedulable(self) -> list[dict]:
        with self.uow() as uow:
            rows = uow.accounts.schedulable()
            return [{name: getattr(row, name) for name in FIELDS} for row in rows]


def may_serve(account: Account, only: frozenset[str] | None) -> bool:
    """May `account` serve a key whose bound accounts are `only` (None: the key is unbound)?"""
    return account.id in only if only is not None else not account.dedicated


def forget(cache: CacheStore | None) -> None:
    """An account changed: the next pick reads the database."""
    AccountPool.schedulable.invalidate(cache)

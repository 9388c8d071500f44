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

_FIELDS = ("id", "name", "provider", "credential_kind", "access_token_sealed", "api_key_sealed",
           "token_expires_at", "base_url", "proxy_type", "proxy_host", "proxy_port",
           "proxy_username", "proxy_password_sealed", "priority", "max_concurrency", "status",
           "rate_limit_reset_at", "cooldown_until", "dedicated",
           "supports_responses")


class AccountPool(Service):
    def accounts(self, provider: str) -> list[Account]:
        """The provider's active and resting accounts as detached rows (never to be saved)."""
        return [Account(**fields) for fields in self.schedulable()
                if fields["provider"] == provider]

    @read_through("schedulable-accounts", key=lambda: "all", version=3)
    @db_retry
    def schedulable(self) -> list[dict]:
        with self.uow() as uow:
            rows = uow.accounts.schedulable()
            return [{name: getattr(row, name) for name in _FIELDS} for row in rows]


def may_serve(account: Account, only: frozenset[str] | None) -> bool:
    """May `account` serve a key whose bound accounts are `only` (None: the key is unbound)?"""
    return account.id in only if only is not None else not account.dedicated


def forget(cache: CacheStore | None) -> None:
    """An account changed: the next pick reads the database."""
    AccountPool.schedulable.invalidate(cache)

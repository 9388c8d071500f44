"""AccountService: the account interface of docs/design/data-access-layer.md, for every
provider.

Secrets are sealed with app.crypto before they reach a row and opened only to mask them, to
call the token endpoint, or to build a provider client (`client_for`).
"""

from __future__ import annotations

import builtins
import math
from datetime import timedelta
from typing import Unpack

from app.crypto import SecretBox
from app.db.models import Account
from app.errors import Conflict, InvalidInput, RecordNotFound
from app.providers import ProviderClient
from app.services.accounts import candidates as pool
from app.services.accounts import shapes as views
from app.services.accounts.clients import OpenedSecrets, build_client, usable
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry
from app.vocabulary import ACCOUNT_STATUSES, PROVIDERS

EDITABLE = ("name", "description", "base_url", "priority", "max_concurrency", "dedicated",
            "supports_responses")
_ONE_CREDENTIAL = "Give exactly one of oauthData or apiKey."
_CLIENTS_KEPT = 1024


def _credential_error() -> InvalidInput:
    # details name the request's own members (wire text, see app/errors.py).
    return InvalidInput(_ONE_CREDENTIAL,
                        details={"oauthData": [_ONE_CREDENTIAL], "apiKey": [_ONE_CREDENTIAL]})



class AccountService(Service):
    def __init__(self, *, box: SecretBox, rate_limit_default_seconds: int = 60,
                 connect_timeout: float = 10.0, read_timeout: float = 600.0,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.box = box
        self._opened = OpenedSecrets(box)  # the credentials provider clients are built with
        self.rate_limit_default = timedelta(seconds=rate_limit_default_seconds)
        self.timeouts = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
        # The pool rows' clients, by the row's id (the row kept: an id may be reused).
        self._clients: dict[int, tuple[Account, ProviderClient]] = {}

    @db_retry
    def create(self, data: dict) -> dict:
        """createClaudeAccount, for any provider: {id, name, status, created_at}."""
        if data.get("provider") not in PROVIDERS:
            raise InvalidInput("Unknown provider.", details={"provider": ["Unknown provider."]})
        if ("oauth_data" in data) == ("api_key" in data):
            raise _credential_error()
        now = self.clock()
        account = Account(provider=data["provider"], status="active", scopes=[],
                          created_at=now, updated_at=now)
        self._apply(account, data)
        with self.uow() as uow:
            uow.accounts.add(account)
            uow.commit()
        pool.forget(self.cache)
        return views.created(account)

    @db_retry
    def get(self, account_id: str) -> dict:
        """getClaudeAccount: the seed's shape, no credential at all."""
        return views.summary(self._get(account_id))

    @db_retry
    def detail(self, account_id: str) -> dict:
        return views.detail(self._get(account_id), self.box)

    @db_retry
    def names(self, account_ids: list[str]) -> dict[str, str]:
        """{id: name} of the accounts that exist among `account_ids`."""
        with self.uow() as uow:
            return uow.accounts.names(account_ids) if account_ids else {}

    @db_retry
    def list(self, *, provider: str | None = None, status: str | None = None, limit: int = 20,
             offset: int = 0) -> dict:
        with self.uow() as uow:
            rows, total = uow.accounts.list_page(provider=provider, status=status, limit=limit,
                                                 offset=offset)
        return {"accounts": [views.detail(row, self.box) for row in rows], "total": total,
                "page": offset // limit + 1, "total_pages": math.ceil(total / limit)}

    @db_retry
    def update(self, account_id: str, changes: dict) -> dict:
        if "oauth_data" in changes and "api_key" in changes:
            raise _credential_error()
        with self.uow() as uow:
            account = uow.accounts.get(account_id, for_update=True)
            if account is None:
                raise RecordNotFound("account")
            self._apply(account, changes)
            account.updated_at = self.clock()
            uow.commit()
        pool.forget(self.cache)
        return views.detail(account, self.box)

    @db_retry
    def delete(self, account_id: str) -> None:
        """Remove the account and its sealed secrets; usage history keeps the account id.
        Refused while a key is bound to it: the key would fall back to the shared pool."""
        with self.uow() as uow:
            account = uow.accounts.get(account_id)
            if account is None:
                raise RecordNotFound("account")
            bound = uow.account_groups.keys_bound(account_id=account_id)
            if bound:
                raise Conflict(f"{bound} API key(s) are bound to this account; unbind them "
                               "first.", code="ACCOUNT_IN_USE")
            uow.accounts.delete(account)
            uow.commit()
        pool.forget(self.cache)

    @db_retry
    def update_status(self, account_id: str, status: str, metadata: dict | None = None) -> None:
        """updateAccountStatus; metadata: rate_limit_reset_at, error_message, last_request_at."""
        if status not in ACCOUNT_STATUSES:
            raise InvalidInput("Unknown status.", details={"status": ["Unknown status."]})
        metadata = metadata or {}
        now = self.clock()
        with self.uow() as uow:
            account = uow.accounts.get(account_id, for_update=True)
            if account is None:
                raise RecordNotFound("account")
            account.status = status
            if status == "active":
                # An admin's all-clear wipes what had taken the account out of rotation.
                account.error_message = None
                account.rate_limit_reset_at = account.rate_limit_remaining = None
                account.cooldown_until, account.recent_failures = None, 0
            elif status == "rate_limited":
                account.rate_limit_reset_at = (metadata.get("rate_limit_reset_at")
                                               or now + self.rate_limit_default)
                account.rate_limit_remaining = 0
            if metadata.get("error_message") is not None:
                account.error_message = metadata["error_message"]
            if metadata.get("last_request_at") is not None:
                account.last_used_at = metadata["last_request_at"]
            account.updated_at = now
            uow.commit()
        pool.forget(self.cache)

    @db_retry
    def available(self, *, provider: str | None = None, status: str | None = None,
                  rate_limit_available: bool | None = None,
                  min_tokens_remaining: int | None = None) -> builtins.list[dict]:
        """getAvailableAccounts; rate limits that have run out are lifted first."""
        now = self.clock()
        with self.uow() as uow:
            if uow.accounts.recover_rate_limited(now, provider):
                uow.commit()
                pool.forget(self.cache)
            rows = uow.accounts.list_available(
                provider=provider, status=status, rate_limit_available=rate_limit_available,
                min_tokens_remaining=min_tokens_remaining, now=now)
        return [views.detail(row, self.box) for row in rows]

    def client_for(self, account: Account | str) -> ProviderClient:
        """The provider client for an account (row or id): opened credential, base URL, proxy.
        A row of the pool's (shared, never changed) keeps its client: a client holds nothing
        of a call, and the pool builds new rows when an account changes."""
        if isinstance(account, str):
            account = self._get(account)
        if not pool.shared(account):
            return build_client(account, self._opened, **self.timeouts)
        kept = self._clients.get(id(account))
        if kept is not None and kept[0] is account and usable(kept[1]):
            return kept[1]
        client = build_client(account, self._opened, **self.timeouts)
        if len(self._clients) >= _CLIENTS_KEPT:
            self._clients.clear()
        self._clients[id(account)] = (account, client)
        return client

    def _get(self, account_id: str) -> Account:
        with self.uow() as uow:
            account = uow.accounts.get(account_id)
        if account is None:
            raise RecordNotFound("account")
        return account

    def _apply(self, account: Account, data: dict) -> None:
        for name in EDITABLE:
            if name in data:
                setattr(account, name, data[name])
        if "oauth_data" in data:
            self._set_oauth(account, data["oauth_data"])
        if "api_key" in data:
            account.credential_kind = "api_key"
            account.api_key_sealed = self.box.encrypt(data["api_key"])
            account.access_token_sealed = account.refresh_token_sealed = None
            account.token_expires_at = account.token_refreshed_at = None
            account.scopes = []
        if account.id is not None and ("oauth_data" in data or "api_key" in data):
            self._credential_replaced(account)
        if "proxy_config" in data:
            self._set_proxy(account, data["proxy_config"])

    def _set_oauth(self, account: Account, oauth: dict) -> None:
        account.credential_kind = "oauth"
        account.access_token_sealed = self.box.encrypt(oauth["access_token"])
        account.refresh_token_sealed = self.box.encrypt_optional(oauth.get("refresh_token"))
        account.scopes = list(oauth.get("scopes") or [])
        account.token_expires_at = oauth.get("expires_at")
        account.token_refreshed_at = None
        account.api_key_sealed = None

    @staticmethod
    def _credential_replaced(account: Account) -> None:
        # A new credential is the usual fix for an account in `error`.
        if account.status == "error":
            account.status, account.error_message = "active", None

    def _set_proxy(self, account: Account, proxy: dict | None) -> None:
        if proxy is None:
            account.proxy_type = account.proxy_host = account.proxy_port = None
            account.proxy_username = account.proxy_password_sealed = None
            return
        account.proxy_type, account.proxy_host = proxy["type"], proxy["host"]
        account.proxy_port, account.proxy_username = proxy["port"], proxy.get("username")
        # Routes never show the password, so leaving it out keeps the one stored.
        if "password" in proxy:
            account.proxy_password_sealed = self.box.encrypt_optional(proxy["password"])

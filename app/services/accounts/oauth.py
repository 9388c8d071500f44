"""TokenRefresher: the OAuth refresh-token grant for accounts, one refresh per account at a time.

`refresh(account_id)` is refreshOAuthToken. `refresh(account_id, force=False)` refreshes only a
token that expires within the margin (what the scheduler calls before use). A caller that finds
another worker refreshing the same account waits for it and takes its result instead of calling
the token endpoint again: refresh tokens are often single-use, so a second call would fail.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Unpack

import httpx

from app.crypto import SecretBox
from app.db.models import Account
from app.errors import (
    Conflict,
    OAuthRefreshFailed,
    OAuthRefreshRejected,
    RecordNotFound,
    Unavailable,
)
from app.services.accounts import candidates as pool
from app.services.accounts.clients import proxy_url
from app.services.accounts.refresh_lock import RefreshLock
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

_POLL_SECONDS = 0.05
# Anthropic's and OpenAI's token endpoints take JSON; Google's takes the RFC 6749 form body.
_JSON_BODY = {"claude", "openai"}


class TokenRefresher(Service):
    def __init__(self, *, box: SecretBox, lock: RefreshLock, token_urls: dict[str, str],
                 client_ids: dict[str, str], client_secrets: dict[str, str],
                 margin_seconds: int, timeout: float, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.box = box
        self.lock = lock
        self.token_urls = token_urls
        self.client_ids = client_ids
        self.client_secrets = client_secrets
        self.margin = timedelta(seconds=margin_seconds)
        self.timeout = timeout

    def needs_refresh(self, account: Account) -> bool:
        return (account.is_oauth and account.token_expires_at is not None
                and account.token_expires_at - self.margin <= self.clock())

    def refresh(self, account_id: str, *, force: bool = True) -> dict:
        """{accessToken, expiresAt, refreshedAt}; the token is new unless no refresh was due."""
        started = self.clock()
        self._load(account_id)  # unknown ids and API-key accounts fail before any waiting
        owner = str(uuid.uuid4())
        where = self._wait_for_lock(account_id, owner)
        try:
            account = self._load(account_id)
            refreshed_meanwhile = (account.token_refreshed_at is not None
                                   and account.token_refreshed_at >= started)
            if refreshed_meanwhile or not (force or self.needs_refresh(account)):
                return self._result(account)
            answer = self._grant(account)
            return self._store(account_id, answer)
        finally:
            self.lock.release(account_id, owner, where)

    def _wait_for_lock(self, account_id: str, owner: str) -> str:
        deadline = time.monotonic() + self.lock.ttl_seconds + self.timeout
        while True:
            where = self.lock.acquire(account_id, owner)
            if where:
                return where
            if time.monotonic() > deadline:
                raise Unavailable("Another refresh of this account is still running.",
                                  code="OAUTH_REFRESH_BUSY")
            time.sleep(_POLL_SECONDS)

    @db_retry
    def _load(self, account_id: str) -> Account:
        with self.uow() as uow:
            account = uow.accounts.get(account_id)
        if account is None:
            raise RecordNotFound("account")
        if not account.is_oauth or account.refresh_token_sealed is None:
            raise Conflict("This account has no OAuth refresh token.", code="NOT_OAUTH_ACCOUNT")
        return account

    def _result(self, account: Account) -> dict:
        return {"access_token": self.box.decrypt_optional(account.access_token_sealed),
                "expires_at": account.token_expires_at, "refreshed_at": account.token_refreshed_at}

    def _grant(self, account: Account) -> dict:
        """POST the refresh-token grant through the account's proxy; the parsed answer."""
        provider = account.provider
        assert account.refresh_token_sealed is not None  # _load refuses an account without one
        body = {"grant_type": "refresh_token",
                "refresh_token": self.box.decrypt(account.refresh_token_sealed)}
        if self.client_ids.get(provider):
            body["client_id"] = self.client_ids[provider]
        if self.client_secrets.get(provider):
            body["client_secret"] = self.client_secrets[provider]
        payload: dict[str, Any] = {"json": body} if provider in _JSON_BODY else {"data": body}
        try:
            client = httpx.Client(proxy=proxy_url(account, self.box), timeout=self.timeout,
                                  trust_env=False)
        except httpx.InvalidURL as error:
            raise Conflict(f"The account's proxy is not a usable address: {error}",
                           code="ACCOUNT_PROXY_INVALID") from error
        try:
            with client as http:
                response = http.post(self.token_urls[provider], **payload,
                                     headers={"Accept": "application/json"})
        except httpx.TimeoutException as error:
            raise OAuthRefreshFailed("The token endpoint timed out.", status=504) from error
        except httpx.TransportError as error:
            raise OAuthRefreshFailed(f"The token endpoint is unreachable: {error}") from error
        answer = _json(response)
        if response.status_code in (400, 401, 403):
            message = _oauth_message(answer, response)
            self._mark_rejected(account.id, message)
            raise OAuthRefreshRejected(f"The provider rejected the refresh: {message}")
        if response.is_error or not isinstance(answer.get("access_token"), str):
            raise OAuthRefreshFailed(f"The token endpoint answered {response.status_code}: "
                                     f"{_oauth_message(answer, response)}")
        return answer

    @db_retry
    def _mark_rejected(self, account_id: str, message: str) -> None:
        with self.uow() as uow:
            uow.accounts.set_error(account_id, f"OAuth refresh rejected: {message}", self.clock())
            uow.commit()
        pool.forget(self.cache)

    @db_retry
    def _store(self, account_id: str, answer: dict) -> dict:
        now = self.clock()
        with self.uow() as uow:
            account = uow.accounts.get(account_id, for_update=True)
            if account is None:
                raise RecordNotFound("account")
            account.access_token_sealed = self.box.encrypt(answer["access_token"])
            if isinstance(answer.get("refresh_token"), str):
                account.refresh_token_sealed = self.box.encrypt(answer["refresh_token"])
            account.token_expires_at = _expiry(answer, now)
            if isinstance(answer.get("scope"), str):
                account.scopes = answer["scope"].split()
            account.token_refreshed_at = account.updated_at = now
            if account.status == "error":
                account.status, account.error_message = "active", None
            uow.commit()
        pool.forget(self.cache)
        return {"access_token": answer["access_token"], "expires_at": account.token_expires_at,
                "refreshed_at": now}


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _oauth_message(answer: dict, response: httpx.Response) -> str:
    """RFC 6749 error fields, or the provider's nested error, or the raw text."""
    error = answer.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    description = answer.get("error_description")
    if description or error:
        return f"{error}: {description}" if error and description else str(description or error)
    return response.text.strip()[:300] or f"HTTP {response.status_code}"


def _expiry(answer: dict, now: datetime) -> datetime | None:
    try:
        return now + timedelta(seconds=float(answer["expires_in"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None  # no lifetime given: refreshed on demand only

"""AccountScheduler: which account serves the next request, and what upstream answers do to it.

For the relay:

    lease = scheduler.acquire("claude", model)          # NoAccountAvailable if none is free
    try:
        client = accounts.client_for(lease.account)
        ...                                              # call the upstream
        scheduler.record_usage(lease.account.id, tokens, cost)   # the chat relay adds these
    except ProviderError as error:                      # with its usage event (settlement.py)
        if scheduler.report(lease.account.id, error):    # True: another account may serve it
            ... acquire(provider, model, exclude={lease.account.id}) and retry ...
    finally:
        lease.release()

Choice: only `active` accounts (rate-limited ones whose reset time has passed become active
again first) that are not cooling down after repeated 5xx/timeouts; highest priority first,
least recently used among equals; never more leases than an account's maxConcurrency. An OAuth
token that expires within the refresh margin is refreshed before the lease is handed out.

`acquire(..., cached=True)` (chat-fast) picks from the cached pool (accounts/candidates.py) without
SQL: the same filters, computed here against the clock, and equals take turns (round robin per
worker) instead of being ordered by lastUsedAt, which only the usage record moves then. A
resting account whose reset has passed sends that pick to the database, which revives it.

A sticky session's account (sticky_sessions.py) comes first among the candidates; when it is
not a candidate (resting, failing, inactive, or not one the key may use) the usual choice
stands.

Which accounts a key may use (`only`, from account_groups.py): the ids it is bound to for the
provider (its accounts and its groups' members), and only those, on every path; None for a key
with no binding there, which is never handed a `dedicated` account.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Unpack

from app.db.models import Account
from app.errors import (
    DomainError,
    OAuthRefreshFailed,
    OAuthRefreshRejected,
    Unavailable,
)
from app.services.accounts import candidates as pool
from app.services.accounts.leases import Lease, LeaseManager
from app.services.accounts.oauth import TokenRefresher
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

log = logging.getLogger(__name__)


class NoAccountAvailable(Unavailable):
    """Every account of the provider is busy, resting or broken; `retry_after` in seconds."""

    code = "NO_ACCOUNT_AVAILABLE"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AccountScheduler(Service):
    def __init__(self, *, leases: LeaseManager, refresher: TokenRefresher,
                 rate_limit_default_seconds: int = 60, cooldown_seconds: int = 30,
                 failure_threshold: int = 3, **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.leases = leases
        self.refresher = refresher
        self.rate_limit_default = timedelta(seconds=rate_limit_default_seconds)
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self.failure_threshold = failure_threshold
        self.pool = pool.AccountPool(**kwargs)
        self._turns = itertools.count()

    def acquire(self, provider: str, model: str | None = None,
                exclude: Iterable[str] = (), *, cached: bool = False,
                prefer: str | None = None, only: frozenset[str] | None = None) -> Lease:
        """A leased account for `provider`; `model` is carried for logging (every account of a
        provider serves all its models). `prefer` (a sticky session's account) is tried first
        whenever it is a candidate, whatever its priority. `only`: the accounts a bound key may
        use; None, any account that is not dedicated. Release the lease when the request
        ends."""
        exclude = tuple(exclude)
        if cached:  # chat-fast's usage record moves lastUsedAt instead of the pick
            chosen = self._pooled(provider, exclude, only)
            if chosen is None:
                chosen = self._candidates(provider, exclude, only)
            lease = self._lease_first(chosen, prefer)
        else:  # the pick holds no connection while it leases: a database lease needs one
            chosen, touched = self._picked(provider, exclude, only, prefer)
            lease = self._lease_first(chosen, prefer, lambda account_id: (
                None if account_id == touched else self._touch(account_id)))
        if lease is None:
            raise NoAccountAvailable(f"No {provider} account is available right now.",
                                     retry_after=self._retry_after(provider))
        log.debug("account %s serves %s %s", lease.account.id, provider, model)
        return lease

    def _lease_first(self, chosen: list[Account], prefer: str | None,
                     touch: Callable[[str], None] | None = None) -> Lease | None:
        """A lease on the first of `chosen` (`prefer` first) below its maxConcurrency whose
        credential is usable, `touch`ed; None when none is."""
        if prefer is not None:
            chosen = sorted(chosen, key=lambda account: account.id != prefer)
        for account in chosen:
            lease = self.leases.acquire(account)
            if lease is None:
                continue  # at its maxConcurrency
            try:
                fresh = self._ready(account)
                if fresh is not None and touch is not None:
                    touch(fresh.id)
            except BaseException:
                lease.release()
                raise
            if fresh is None:
                lease.release()
                continue
            lease.account = fresh
            return lease
        return None

    @db_retry
    def _candidates(self, provider: str, exclude: tuple[str, ...],
                    only: frozenset[str] | None) -> list[Account]:
        # Autocommit: the usual pick is one read, and the rare revival one UPDATE of its own.
        with self.uow.at_once() as uow:
            return self._chosen(uow, provider, self.clock(), exclude, only)

    @db_retry
    def _picked(self, provider: str, exclude: tuple[str, ...], only: frozenset[str] | None,
                prefer: str | None) -> tuple[list[Account], str | None]:
        """The candidates, best first, and the id of the one the same statement touched (the
        first `_lease_first` tries, unless a resting candidate is revived first or its token
        is due a refresh: then None, and the account leased is touched on its own). The first
        to try is touched before its lease is taken: if that lease is refused (the account is
        at its maxConcurrency: its own requests in flight will move lastUsedAt past this on
        being stored) or its credential is unusable, the account leased instead is touched
        too."""
        now = self.clock()
        with self.uow.at_once() as uow:
            rows, touched = uow.accounts.pick(pool.FIELDS, provider, now, exclude, only=only,
                                              prefer=prefer, refresh_by=now + self.refresher.margin)
            uow.commit()  # the touch, outside autocommit
            listed = [pool.detached_row(fields) for fields in rows]
            return self._chosen(uow, provider, now, exclude, only, listed), touched

    def _chosen(self, uow, provider: str, now: datetime, exclude: tuple[str, ...],
                only: frozenset[str] | None,
                listed: list[Account] | None = None) -> list[Account]:
        """The candidates, best first (`listed`: as the recoverable listing found them).
        Rate-limited accounts whose reset has passed return to active first; the one statement
        that lists candidates finds them, so the usual pick (none due) writes nothing."""
        chosen = (self._listed(uow, provider, now, exclude, only, recoverable=True)
                  if listed is None else listed)
        if not any(account.status == "rate_limited" for account in chosen):
            return chosen
        if uow.accounts.recover_rate_limited(now, provider):
            uow.commit()
            pool.forget(self.cache)
        return self._listed(uow, provider, now, exclude, only)

    @staticmethod
    def _listed(uow, provider: str, now: datetime, exclude: tuple[str, ...],
                only: frozenset[str] | None, *, recoverable: bool = False) -> list[Account]:
        """The candidates as the pool's detached rows (its FIELDS, read fresh): what choosing
        and calling an account needs, without loading whole ORM rows."""
        return [pool.detached_row(fields) for fields in uow.accounts.candidate_fields(
            pool.FIELDS, provider, now, exclude, only=only, recoverable=recoverable)]

    def _pooled(self, provider: str, exclude: tuple[str, ...],
                only: frozenset[str] | None) -> list[Account] | None:
        """Candidates from the cached pool, best first; None when the database must choose."""
        now, ready = self.clock(), []
        for account in self.pool.accounts(provider):
            if not pool.may_serve(account, only):
                continue
            if account.status == "rate_limited":
                if account.rate_limit_reset_at is None or account.rate_limit_reset_at <= now:
                    return None  # due to return to service: the database revives it
                continue
            if account.id in exclude or (account.cooldown_until is not None
                                         and account.cooldown_until > now):
                continue
            ready.append(account)
        ready.sort(key=lambda account: (-account.priority, account.id))
        turn, ordered = next(self._turns), []
        for _, same_priority in itertools.groupby(ready, key=lambda account: account.priority):
            equals = list(same_priority)
            start = turn % len(equals)
            ordered += equals[start:] + equals[:start]
        return ordered

    @db_retry
    def _retry_after(self, provider: str) -> float:
        """Seconds until a resting account returns; 1 when they are merely all busy."""
        now = self.clock()
        with self.uow() as uow:
            moment = uow.accounts.next_free_at(provider, now)
        return max(1.0, (moment - now).total_seconds()) if moment else 1.0

    def _ready(self, account: Account) -> Account | None:
        """The account with a usable credential, or None if it cannot serve now."""
        if not self.refresher.needs_refresh(account):
            return account
        try:
            self.refresher.refresh(account.id, force=False)
        except DomainError as error:
            # A rejected refresh has already marked the account `error`.
            log.warning("refreshing account %s before use failed: %s", account.id, error.message)
            if isinstance(error, OAuthRefreshFailed):
                self.mark_failure(account.id)
            still_valid = account.token_expires_at and account.token_expires_at > self.clock()
            return account if still_valid and not isinstance(error, OAuthRefreshRejected) else None
        return self._reload(account.id)

    @db_retry
    def _reload(self, account_id: str) -> Account | None:
        with self.uow() as uow:
            account = uow.accounts.get(account_id)
        return account if account is not None and account.status == "active" else None

    @db_retry
    def _touch(self, account_id: str) -> None:
        # One statement on its own (autocommit): the row every pick of this account writes is
        # locked only while the server runs it, not across a COMMIT's round trip.
        with self.uow.at_once() as uow:
            uow.accounts.touch(account_id, self.clock())
            uow.commit()

    @db_retry
    def mark_rate_limited(self, account_id: str, reset_at: datetime | None = None) -> bool:
        """The upstream answered 429: rest the account until `reset_at` (or the default)."""
        now = self.clock()
        with self.uow() as uow:
            changed = uow.accounts.set_rate_limited(
                account_id, reset_at or now + self.rate_limit_default, now)
            uow.commit()
        pool.forget(self.cache)
        return changed == 1

    @db_retry
    def mark_error(self, account_id: str, message: str) -> bool:
        """The upstream refused the credential (401/403): out of rotation until an admin acts."""
        with self.uow() as uow:
            changed = uow.accounts.set_error(account_id, message, self.clock())
            uow.commit()
        pool.forget(self.cache)
        return changed == 1

    @db_retry
    def mark_failure(self, account_id: str) -> None:
        """A 5xx or timeout: every `failure_threshold`-th in a row rests the account a while."""
        with self.uow() as uow:
            uow.accounts.add_failure(account_id, threshold=self.failure_threshold,
                                     cooldown_until=self.clock() + self.cooldown)
            uow.commit()
        pool.forget(self.cache)

    @db_retry
    def record_usage(self, account_id: str, tokens: int, cost: Decimal = Decimal(0)) -> None:
        """A successful request: add to the running totals atomically, clear the failure count."""
        with self.uow() as uow:
            uow.accounts.add_usage(account_id, tokens=tokens, cost=Decimal(cost),
                                   now=self.clock())
            uow.commit()

    @db_retry
    def record_rate_limit_status(self, account_id: str, remaining: int | None,
                                 reset_at: datetime | None) -> None:
        """What the upstream's rate-limit headers said is left (rateLimitStatus)."""
        with self.uow() as uow:
            uow.accounts.set_rate_limit_status(account_id, remaining, reset_at)
            uow.commit()

    def report(self, account_id: str, error) -> bool:
        """Apply a ProviderError to the account; True when another account may take the request.

        429 -> rate_limited until the provider's reset; 401/403 -> error; 5xx, timeouts and
        connection failures -> failure count; a bad or too large request is the caller's fault
        and leaves the account alone (False): a 429 saying "request too large" is one of those
        (ProviderError kind `request_too_large`), so one caller cannot rest every account.
        """
        kind = getattr(error, "kind", None)
        if kind == "rate_limited":
            self.mark_rate_limited(account_id, getattr(error, "reset_at", None))
        elif kind == "auth":
            self.mark_error(account_id, f"Upstream refused the credential: {error}")
        elif kind in ("upstream_error", "timeout", "connection"):
            self.mark_failure(account_id)
        else:
            return False
        return True

"""Accounts: listing, scheduling candidates, and the atomic status and counter changes."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, and_, bindparam, case, func, literal, or_, select, text, update

from app.db.driver import DriverStatement, connection_of
from app.db.models import Account
from app.db.repositories.arrays import arrays, unnest_as
from app.db.repositories.base import Repository
from app.db.types import UTCDateTime

# One row per account of a batch of usage: what its totals grow by.
_USAGE_COLUMNS = [("id", "varchar"), ("requests", "bigint"), ("tokens", "bigint"),
                  ("cost", "numeric")]
_LOCK_IN_ORDER = text("SELECT id FROM accounts WHERE id = ANY(CAST(:id AS varchar[])) "
                      "ORDER BY id FOR UPDATE")
_ADD_USAGE = text(
    "UPDATE accounts AS a SET total_requests = a.total_requests + u.requests, "
    "total_tokens = a.total_tokens + u.tokens, total_cost = a.total_cost + u.cost, "
    "recent_failures = 0, last_used_at = GREATEST(a.last_used_at, CAST(:now AS timestamptz)) "
    f"FROM {unnest_as('u', _USAGE_COLUMNS)} WHERE a.id = u.id")
_ACCOUNTS = cast(Table, Account.__table__)
# Built once, on the table (no ORM update): every synchronous chat pick runs it; on
# PostgreSQL on the driver's cursor (its timestamp CAST in the text, checked aware below).
_TOUCH = (update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id"))
          .values(last_used_at=bindparam("now", type_=_ACCOUNTS.c.last_used_at.type)))
_PG_TOUCH = DriverStatement(text(
    "UPDATE accounts SET last_used_at = CAST(:now AS timestamptz)"
    " WHERE id = CAST(:account_id AS varchar)"), returns_rows=False)



@functools.cache
def _candidate_fields(fields: tuple[str, ...], bound: bool, recoverable: bool):
    """`candidates` as a Core statement of `fields`, built once per shape: its parameters are
    provider, now, exclude (a list, maybe empty) and, for a `bound` key, only."""
    columns, now = _ACCOUNTS.c, bindparam("now", type_=UTCDateTime())
    status = columns.status == "active"
    if recoverable:
        status = or_(status, and_(columns.status == "rate_limited",
                                  columns.rate_limit_reset_at <= now))
    return select(*(columns[name] for name in fields)).where(
        columns.provider == bindparam("provider"), status,
        or_(columns.cooldown_until.is_(None), columns.cooldown_until <= now),
        columns.id.in_(bindparam("only", expanding=True)) if bound
        else columns.dedicated.is_(False),
        columns.id.not_in(bindparam("exclude", expanding=True)),
    ).order_by(columns.priority.desc(), columns.last_used_at.asc().nulls_first(), columns.id)


def _at(moment: datetime):
    return literal(moment, UTCDateTime())


class AccountRepository(Repository[Account]):
    model = Account

    def names(self, account_ids: list[str]) -> dict[str, str]:
        rows = self.session.execute(select(Account.id, Account.name)
                                    .where(Account.id.in_(account_ids)))
        return {row_id: name for row_id, name in rows}

    def list_page(self, *, provider: str | None, status: str | None, limit: int,
                  offset: int) -> tuple[list[Account], int]:
        conditions = []
        if provider:
            conditions.append(Account.provider == provider)
        if status:
            conditions.append(Account.status == status)
        total = self.session.execute(
            select(func.count()).select_from(Account).where(*conditions)).scalar_one()
        query = (select(Account).where(*conditions)
                 .order_by(Account.created_at.desc(), Account.id).limit(limit).offset(offset))
        return list(self.session.scalars(query)), total

    def page_after(self, after_id: str, limit: int, *, for_update: bool = False) -> list[Account]:
        query = select(Account).where(Account.id > after_id).order_by(Account.id).limit(limit)
        return list(self.session.scalars(query.with_for_update() if for_update else query))

    def list_available(self, *, provider: str | None, status: str | None,
                       rate_limit_available: bool | None, min_tokens_remaining: int | None,
                       now: datetime) -> list[Account]:
        """getAvailableAccounts: an unknown `remaining` counts as quota left."""
        conditions = [Account.status == (status or "active")]
        if provider:
            conditions.append(Account.provider == provider)
        if rate_limit_available:
            conditions.append(or_(Account.rate_limit_remaining.is_(None),
                                  Account.rate_limit_remaining > 0))
            conditions.append(or_(Account.rate_limit_reset_at.is_(None),
                                  Account.rate_limit_reset_at <= _at(now)))
        if min_tokens_remaining is not None:
            conditions.append(or_(Account.rate_limit_remaining.is_(None),
                                  Account.rate_limit_remaining >= min_tokens_remaining))
        return list(self.session.scalars(select(Account).where(*conditions).order_by(
            Account.priority.desc(), Account.last_used_at.asc().nulls_first(), Account.id)))

    def candidates(self, provider: str, now: datetime, exclude: Iterable[str] = (), *,
                   only: Iterable[str] | None = None,
                   recoverable: bool = False) -> list[Account]:
        """Schedulable accounts, best first: priority, then least recently used. `only`: the
        accounts a bound key may use; None, those that are not dedicated. `recoverable` adds
        the rate-limited ones whose reset has passed (`recover_rate_limited` would revive)."""
        status = Account.status == "active"
        if recoverable:
            status = or_(status, and_(Account.status == "rate_limited",
                                      Account.rate_limit_reset_at <= _at(now)))
        conditions = [
            Account.provider == provider, status,
            or_(Account.cooldown_until.is_(None), Account.cooldown_until <= _at(now)),
            Account.dedicated.is_(False) if only is None else Account.id.in_(list(only)),
        ]
        excluded = list(exclude)
        if excluded:
            conditions.append(Account.id.not_in(excluded))
        return list(self.session.scalars(select(Account).where(*conditions).order_by(
            Account.priority.desc(), Account.last_used_at.asc().nulls_first(), Account.id)))

    def candidate_fields(self, fields: tuple[str, ...], provider: str, now: datetime,
                         exclude: Iterable[str] = (), *, only: Iterable[str] | None = None,
                         recoverable: bool = False) -> list[dict]:
        """`candidates`, best first, as dicts of `fields` (a prebuilt Core statement: no ORM
        rows; the synchronous chat path picks its account from these)."""
        params = {"provider": provider, "now": now, "exclude": list(exclude)}
        if only is not None:
            params["only"] = list(only)
        statement = _candidate_fields(fields, only is not None, recoverable)
        return [dict(row._mapping) for row in self.session.execute(statement, params)]

    def schedulable(self) -> list[Account]:
        """Every account that serves now or will once its rate limit resets."""
        return list(self.session.scalars(select(Account).where(
            Account.status.in_(("active", "rate_limited"))).order_by(Account.id)))

    def next_free_at(self, provider: str, now: datetime) -> datetime | None:
        """The soonest moment a resting (rate-limited or cooling) account may serve again."""
        rate_limited = select(func.min(Account.rate_limit_reset_at)).where(
            Account.provider == provider, Account.status == "rate_limited",
            Account.rate_limit_reset_at > _at(now))
        cooling = select(func.min(Account.cooldown_until)).where(
            Account.provider == provider, Account.status == "active",
            Account.cooldown_until > _at(now))
        moments = [self.session.scalar(rate_limited), self.session.scalar(cooling)]
        return min((moment for moment in moments if moment is not None), default=None)

    def _update(self, account_id: str, *conditions, **values) -> int:
        result = self._execute(
            update(Account).where(Account.id == account_id, *conditions).values(**values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount

    def recover_rate_limited(self, now: datetime, provider: str | None = None) -> int:
        """Rate-limited accounts whose reset time has passed go back to active."""
        conditions = [Account.status == "rate_limited", Account.rate_limit_reset_at <= _at(now)]
        if provider:
            conditions.append(Account.provider == provider)
        result = self._execute(
            update(Account).where(*conditions)
            .values(status="active", rate_limit_reset_at=None, rate_limit_remaining=None,
                    updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount

    def touch(self, account_id: str, now: datetime) -> int:
        if self.session.get_bind().dialect.name != "postgresql":
            return self._execute(_TOUCH, {"account_id": account_id, "now": now}).rowcount
        if now.tzinfo is None:  # what the column type would refuse
            raise ValueError("naive datetime given to a UTC column")
        return _PG_TOUCH.run(connection_of(self.session),
                             {"account_id": account_id, "now": now}).rowcount

    def set_rate_limited(self, account_id: str, reset_at: datetime, now: datetime) -> int:
        # An admin's `inactive` and a broken credential's `error` outrank a rate limit.
        return self._update(account_id, Account.status.in_(("active", "rate_limited")),
                            status="rate_limited", rate_limit_reset_at=reset_at,
                            rate_limit_remaining=0, updated_at=now)

    def set_error(self, account_id: str, message: str, now: datetime) -> int:
        return self._update(account_id, Account.status != "inactive", status="error",
                            error_message=message, updated_at=now)

    def add_failure(self, account_id: str, *, threshold: int, cooldown_until: datetime) -> int:
        """Count a 5xx or timeout; the one that reaches `threshold` starts a cool-down."""
        reached = Account.recent_failures + 1 >= threshold
        return self._update(
            account_id,
            recent_failures=case((reached, 0), else_=Account.recent_failures + 1),
            cooldown_until=case((reached, _at(cooldown_until)), else_=Account.cooldown_until),
        )

    def add_usage(self, account_id: str, *, tokens: int, cost: Decimal, now: datetime,
                  requests: int = 1) -> int:
        """Running totals in one UPDATE; a success also clears the failure count."""
        return self._update(
            account_id,
            total_requests=Account.total_requests + requests,
            total_tokens=Account.total_tokens + tokens,
            total_cost=Account.total_cost + cost,
            recent_failures=0,
            last_used_at=case(
                (or_(Account.last_used_at.is_(None), Account.last_used_at < _at(now)), _at(now)),
                else_=Account.last_used_at,
            ),
        )

    def add_usage_many(self, rows: list[dict], now: datetime) -> None:
        """`add_usage` for many accounts (dicts of id, requests, tokens, cost; each account
        once), the rows locked in id order so that concurrent writers cannot deadlock."""
        if self.session.get_bind().dialect.name != "postgresql":
            for row in sorted(rows, key=lambda row: row["id"]):
                self.add_usage(row["id"], tokens=row["tokens"], cost=row["cost"], now=now,
                               requests=row["requests"])
            return
        values = arrays(rows, _USAGE_COLUMNS)
        self.session.execute(_LOCK_IN_ORDER, {"id": values["id"]})
        self.session.execute(_ADD_USAGE, {**values, "now": now})

    def set_rate_limit_status(self, account_id: str, remaining: int | None,
                              reset_at: datetime | None) -> int:
        return self._update(account_id, rate_limit_remaining=remaining,
                            rate_limit_reset_at=reset_at)

    def lock_for_leases(self, account_id: str) -> bool:
        """Serialise lease changes on one account (a row lock; SQLite's write lock)."""
        return self._update(account_id, id=Account.id) == 1

    def try_lock_refresh(self, account_id: str, owner: str, until: datetime,
                         now: datetime) -> bool:
        return self._update(
            account_id,
            or_(Account.refresh_locked_until.is_(None), Account.refresh_locked_until <= _at(now)),
            refresh_lock_owner=owner, refresh_locked_until=until,
        ) == 1

    def unlock_refresh(self, account_id: str, owner: str) -> None:
        self._update(account_id, Account.refresh_lock_owner == owner,
                     refresh_lock_owner=None, refresh_locked_until=None)

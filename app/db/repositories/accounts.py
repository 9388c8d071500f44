"""Accounts: listing, scheduling candidates, and the atomic status and counter changes."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import (
    String,
    Table,
    and_,
    bindparam,
    case,
    column,
    func,
    literal,
    or_,
    select,
    text,
    update,
)

from app.db.driver import DriverSelect, DriverStatement, connection_of
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
_BEST_FIRST = "priority DESC, last_used_at ASC NULLS FIRST, id"


@functools.cache
def _pick(fields: tuple[str, ...], bound: bool) -> DriverSelect:
    """`candidate_fields` (recoverable) and the touch of the one to try first, in one statement
    run on the driver's cursor; its parameters are provider, now, exclude, only (a `bound` key),
    prefer, touch and refresh_by. The first candidate (`prefer` first, as the scheduler tries
    them) has its last_used_at set to `now` unless `touch` is false, a candidate is resting
    (the scheduler revives it and lists again) or its OAuth token expires by `refresh_by`
    (the scheduler refreshes it first). The last column, `touched`, is the id touched or
    NULL; the others are `fields` of each candidate, best first."""
    listed = ", ".join(fields)
    extra = "".join(f", {name}" for name in ("id", "priority", "last_used_at", "status")
                    if name not in fields)
    statement = text(
        f"WITH candidates AS (SELECT {listed}{extra} FROM accounts"
        " WHERE provider = CAST(:provider AS varchar)"
        " AND (status = 'active' OR (status = 'rate_limited'"
        " AND rate_limit_reset_at <= CAST(:now AS timestamptz)))"
        " AND (cooldown_until IS NULL OR cooldown_until <= CAST(:now AS timestamptz))"
        f" AND {'id = ANY(CAST(:only AS varchar[]))' if bound else 'NOT dedicated'}"
        " AND id <> ALL(CAST(:exclude AS varchar[]))"
        "), touched AS (UPDATE accounts SET last_used_at = CAST(:now AS timestamptz)"
        " WHERE CAST(:touch AS boolean) AND id = (SELECT id FROM candidates ORDER BY"
        f" id = CAST(:prefer AS varchar) IS TRUE DESC, {_BEST_FIRST} LIMIT 1)"
        " AND NOT EXISTS (SELECT 1 FROM candidates WHERE status <> 'active')"
        " AND (credential_kind IS DISTINCT FROM 'oauth' OR token_expires_at IS NULL"
        " OR token_expires_at > CAST(:refresh_by AS timestamptz)) RETURNING id)"
        f" SELECT {listed}, (SELECT id FROM touched) AS touched FROM candidates"
        f" ORDER BY {_BEST_FIRST}")
    return DriverSelect(statement.columns(*(_ACCOUNTS.c[name] for name in fields),
                                          column("touched", String)))


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

    def pick(self, fields: tuple[str, ...], provider: str, now: datetime,
             exclude: Iterable[str] = (), *, only: Iterable[str] | None = None,
             prefer: str | None = None, touch: bool = True,
             refresh_by: datetime | None = None) -> tuple[list[dict], str | None]:
        """`candidate_fields` (recoverable), best first, and the id of the account touched
        with them (last_used_at = `now`), in one statement: the first to try (`prefer` first),
        when `touch` and no candidate is resting and its OAuth token does not expire by
        `refresh_by` (else None: nothing touched). In a transaction the caller commits. On
        another database than PostgreSQL nothing is touched."""
        if self.session.get_bind().dialect.name != "postgresql":
            return self.candidate_fields(fields, provider, now, exclude, only=only,
                                         recoverable=True), None
        if now.tzinfo is None or (refresh_by is not None and refresh_by.tzinfo is None):
            raise ValueError("naive datetime given to a UTC column")  # as the column type would
        params = {"provider": provider, "now": now, "exclude": list(exclude), "prefer": prefer,
                  "touch": touch, "refresh_by": refresh_by or now}
        if only is not None:
            params["only"] = list(only)
        rows = _pick(fields, only is not None).rows(self.session, params)
        touched = rows[0][-1] if rows else None
        return [dict(zip(fields, row, strict=False)) for row in rows], touched

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

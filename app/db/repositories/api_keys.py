"""API keys: lookup by hash, filtered listing, and atomic usage totals."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import joinedload

from app.db.driver import DriverSelect
from app.db.models import Account, AccountGroup, AiModel, ApiKey, ApiKeyBinding, ApiKeyTag
from app.db.repositories.ai_models import AiModelRepository
from app.db.repositories.arrays import arrays, unnest_as
from app.db.repositories.base import Repository
from app.db.types import UTCDateTime

SORTABLE_COLUMNS = {
    "name": ApiKey.name,
    "created_at": ApiKey.created_at,
    "updated_at": ApiKey.updated_at,
    "last_used_at": ApiKey.last_used_at,
    "expires_at": ApiKey.expires_at,
    "total_requests": ApiKey.total_requests,
    "total_tokens": ApiKey.total_tokens,
    "total_cost": ApiKey.total_cost,
}


# One row per key of a batch of usage: what its totals grow by.
_USAGE_COLUMNS = [("id", "varchar"), ("requests", "bigint"), ("input_tokens", "bigint"),
                  ("output_tokens", "bigint"), ("total_tokens", "bigint"), ("cost", "numeric"),
                  ("used_at", "timestamptz")]
_LOCK_IN_ORDER = text("SELECT id FROM api_keys WHERE id = ANY(CAST(:id AS varchar[])) "
                      "ORDER BY id FOR UPDATE")
_ADD_USAGE = text(
    "UPDATE api_keys AS k SET total_requests = k.total_requests + u.requests, "
    "total_input_tokens = k.total_input_tokens + u.input_tokens, "
    "total_output_tokens = k.total_output_tokens + u.output_tokens, "
    "total_tokens = k.total_tokens + u.total_tokens, total_cost = k.total_cost + u.cost, "
    # GREATEST skips NULL: a key never used takes the batch's time.
    "last_used_at = GREATEST(k.last_used_at, u.used_at) "
    f"FROM {unnest_as('u', _USAGE_COLUMNS)} WHERE k.id = u.id RETURNING k.id")


# What authenticating a key reads (KeyService.validate): its columns, and per binding the
# bound account or group and that target's provider (None when the target is gone).
_KEYS, _BINDINGS = ApiKey.__table__, ApiKeyBinding.__table__
_ACCOUNTS, _GROUPS = Account.__table__, AccountGroup.__table__
_MODELS = AiModel.__table__
_VALIDATION_COLUMNS = select(*(_KEYS.c[name] for name in (
        "id", "permissions", "is_active", "is_deleted", "expires_at", "concurrency_limit",
        "daily_cost_limit", "requests_per_minute", "token_limit", "user_id", "hash_scheme",
        "allowed_models", "denied_models", "allowed_clients", "activation_days",
        "activated_at", "total_cost_limit", "weekly_cost_limit", "weekly_reset_day",
        "weekly_reset_hour", "weekly_cost_models", "time_zone", "window_limits")),
    _BINDINGS.c.account_id.label("bound_account_id"),
    _BINDINGS.c.group_id.label("bound_group_id"),
    func.coalesce(_ACCOUNTS.c.provider, _GROUPS.c.provider).label("bound_provider"),
).select_from(_KEYS.outerjoin(_BINDINGS, _BINDINGS.c.api_key_id == _KEYS.c.id)
              .outerjoin(_ACCOUNTS, _ACCOUNTS.c.id == _BINDINGS.c.account_id)
              .outerjoin(_GROUPS, _GROUPS.c.id == _BINDINGS.c.group_id)
              ).where(_KEYS.c.hashed_key == bindparam("hashed_key"))
# On the driver's cursor: the chat route reads it every request.
_VALIDATION = DriverSelect(_VALIDATION_COLUMNS.order_by(_BINDINGS.c.id))
# The same rows, each with the catalogue entry `model` names beside them (its columns named
# model_<name>): by id, else by name (names are unique), as ModelService.resolve chooses.
# One row with the key's columns NULL for an unknown hash; the model's NULL for no entry.
_KEY_ROWS = _VALIDATION_COLUMNS.add_columns(_BINDINGS.c.id.label("binding_id")).subquery("k")
_NAMED = select(_MODELS).where(or_(_MODELS.c.id == bindparam("model"),
                                   _MODELS.c.name == bindparam("model"))).order_by(
    (_MODELS.c.id == bindparam("model")).desc()).limit(literal_column("1")).subquery("m")
_ONE = select(literal_column("1").label("one")).subquery("one")
_VALIDATION_AND_MODEL = DriverSelect(
    select(*(column for column in _KEY_ROWS.c if column.key != "binding_id"),
           *(column.label(f"model_{column.key}") for column in _NAMED.c))
    .select_from(_ONE.outerjoin(_KEY_ROWS, true()).outerjoin(_NAMED, true()))
    .order_by(_KEY_ROWS.c.binding_id))
_KEY_WIDTH = len(_VALIDATION_COLUMNS.selected_columns)
ModelRow = namedtuple("ModelRow", [str(column.key) for column in _MODELS.c])  # type: ignore[misc]


@dataclass(frozen=True)
class KeyFilter:
    is_active: bool | None = None
    provider: str | None = None
    tags: tuple[str, ...] = ()
    include_deleted: bool = False
    user_id: str | None = None
    search: str | None = None  # part of the name, or the whole id


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    def get_by_hash(self, hashed_key: str) -> ApiKey | None:
        """The key with its tags and bindings, in one statement (authentication reads all)."""
        return self.session.scalars(
            select(ApiKey).where(ApiKey.hashed_key == hashed_key)
            .options(joinedload(ApiKey.tag_rows), joinedload(ApiKey.binding_rows))
        ).unique().first()

    def validation_rows(self, hashed_key: str) -> list:
        """What authentication reads of the key with this hash, in one Core statement (no
        ORM rows): one row per binding, in the bindings' order (one row with no binding
        for a key without any); none for an unknown hash."""
        return _VALIDATION.rows(self.session, {"hashed_key": hashed_key})

    def validation_rows_and_model(self, hashed_key: str, model: str) -> tuple[list, Any]:
        """`validation_rows` and, in the same statement, the catalogue entry whose id, else
        whose name, is `model`, as a row of the models table's columns (None: no entry)."""
        if self.session.get_bind().dialect.driver != "psycopg":
            matches = AiModelRepository(self.session).list_matching(model)
            return self.validation_rows(hashed_key), next(
                (row for row in matches if row.id == model), matches[0] if matches else None)
        rows = _VALIDATION_AND_MODEL.rows(self.session, {"hashed_key": hashed_key,
                                                         "model": model})
        named = rows[0][_KEY_WIDTH:]
        return ([] if rows[0].id is None else rows,
                None if named[0] is None else ModelRow._make(named))

    def names(self, key_ids: list[str]) -> dict[str, str]:
        rows = self.session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids)))
        return {row_id: name for row_id, name in rows}

    def list_page(self, filters: KeyFilter, *, sort_by: str, descending: bool, limit: int,
                  offset: int) -> tuple[list[ApiKey], int]:
        conditions = self._conditions(filters)
        total = self.session.execute(
            select(func.count()).select_from(ApiKey).where(*conditions)).scalar_one()
        column = SORTABLE_COLUMNS[sort_by]
        order = column.desc() if descending else column.asc()
        query = (
            select(ApiKey).where(*conditions).order_by(order, ApiKey.id).limit(limit).offset(offset)
        )
        return list(self.session.scalars(query)), total

    def _conditions(self, filters: KeyFilter) -> list:
        conditions: list[ColumnElement[bool]] = []
        if not filters.include_deleted:
            conditions.append(ApiKey.is_deleted.is_(False))
        if filters.is_active is not None:
            conditions.append(ApiKey.is_active.is_(filters.is_active))
        if filters.user_id is not None:
            conditions.append(ApiKey.user_id == filters.user_id)
        if filters.search:
            pattern = "%" + filters.search.replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            conditions.append(or_(ApiKey.name.ilike(pattern, escape="\\"),
                                  ApiKey.id == filters.search))
        if filters.provider == "all":
            conditions.append(ApiKey.permissions == "all")
        elif filters.provider:
            # permissions is 'all' or a sorted comma list of provider names.
            conditions.append(or_(ApiKey.permissions == "all",
                                  ApiKey.permissions.contains(filters.provider)))
        if filters.tags:
            tagged = (
                select(ApiKeyTag.api_key_id)
                .where(ApiKeyTag.tag.in_(filters.tags))
                .group_by(ApiKeyTag.api_key_id)
                .having(func.count(func.distinct(ApiKeyTag.tag)) == len(set(filters.tags)))
            )
            conditions.append(ApiKey.id.in_(tagged))
        return conditions

    def total_tokens(self, key_id: str) -> int:
        return self.session.scalar(select(ApiKey.total_tokens).where(ApiKey.id == key_id)) or 0

    def spent(self, key_id: str) -> tuple[int, Decimal]:
        """The key's all-time (tokens, cost), imported usage included."""
        row = self.session.execute(select(ApiKey.total_tokens, ApiKey.total_cost)
                                   .where(ApiKey.id == key_id)).one_or_none()
        return (row[0], row[1]) if row is not None else (0, Decimal(0))

    def lock(self, key_id: str) -> bool:
        """Serialise changes that hang off one key (a row lock; SQLite's write lock)."""
        result = self._execute(
            update(ApiKey).where(ApiKey.id == key_id).values(id=ApiKey.id)
            .execution_options(synchronize_session=False))
        return result.rowcount == 1

    def add_usage(self, key_id: str, *, requests: int, input_tokens: int, output_tokens: int,
                  cost: Decimal, used_at: datetime, total_tokens: int | None = None) -> bool:
        """Add to the running totals in one UPDATE, so concurrent calls never lose a count."""
        used = literal(used_at, UTCDateTime())
        if total_tokens is None:
            total_tokens = input_tokens + output_tokens
        result = self._execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(
                total_requests=ApiKey.total_requests + requests,
                total_input_tokens=ApiKey.total_input_tokens + input_tokens,
                total_output_tokens=ApiKey.total_output_tokens + output_tokens,
                total_tokens=ApiKey.total_tokens + total_tokens,
                total_cost=ApiKey.total_cost + cost,
                last_used_at=case(
                    (or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < used), used),
                    else_=ApiKey.last_used_at,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def add_usage_many(self, rows: list[dict]) -> set[str]:
        """`add_usage` for many keys (dicts of id, requests, input_tokens, output_tokens,
        total_tokens, cost, used_at; each key once), the rows locked in id order so that
        concurrent writers cannot deadlock; answers the ids found."""
        if self.session.get_bind().dialect.name != "postgresql":
            return {row["id"] for row in sorted(rows, key=lambda row: row["id"])
                    if self.add_usage(row["id"], requests=row["requests"],
                                      input_tokens=row["input_tokens"],
                                      output_tokens=row["output_tokens"], cost=row["cost"],
                                      used_at=row["used_at"], total_tokens=row["total_tokens"])}
        values = arrays(rows, _USAGE_COLUMNS)
        self.session.execute(_LOCK_IN_ORDER, {"id": values["id"]})
        return set(self.session.scalars(_ADD_USAGE, values))

    def activate(self, key_id: str, now: datetime, expires_at: datetime) -> int:
        """Start an activation key's period, once: only while it has not started."""
        result = self._execute(
            update(ApiKey).where(ApiKey.id == key_id, ApiKey.activated_at.is_(None),
                                 ApiKey.activation_days.is_not(None))
            .values(activated_at=now, expires_at=expires_at)
            .execution_options(synchronize_session=False))
        return result.rowcount

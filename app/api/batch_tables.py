"""The schemas a batch operation's `data` is validated with, and its result shown with, per
table: the same ones as the table's single routes. Other features add theirs, one line each,
e.g. `BATCH_SCHEMAS["users"] = TableSchemas(UserCreateSchema, UserUpdateSchema, UserSchema,
UserSchema)`, beside `transactions.register("users", ...)` in create_app.
"""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import Schema

from app.api.schemas.accounts import (
    AccountCreatedSchema,
    AccountCreateSchema,
    AccountSchema,
    AccountUpdateSchema,
)
from app.api.schemas.keys import KeyCreatedSchema, KeyCreateSchema, KeySchema, KeyUpdateSchema


@dataclass(frozen=True)
class TableSchemas:
    create: type[Schema]
    update: type[Schema]
    created: type[Schema]
    updated: type[Schema]


BATCH_SCHEMAS: dict[str, TableSchemas] = {
    "api_keys": TableSchemas(KeyCreateSchema, KeyUpdateSchema, KeyCreatedSchema, KeySchema),
    "accounts": TableSchemas(AccountCreateSchema, AccountUpdateSchema, AccountCreatedSchema,
                             AccountSchema),
}


def dump_result(table: str, kind: str, result):
    """A result as the table's single route would show it."""
    if kind == "delete":
        return result
    schemas = BATCH_SCHEMAS[table]
    return (schemas.created if kind == "create" else schemas.updated)().dump(result)

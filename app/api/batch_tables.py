"""The schemas a batch operation's `data` is validated with, and its result shown with, per
table: the same ones as the table's single routes, and only for the operations those routes
offer. Each table has one line here, beside its `transactions.register(...)` in create_app.
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
from app.api.schemas.catalogue import ModelCreateSchema, ModelSchema, ModelUpdateSchema
from app.api.schemas.keys import KeyCreatedSchema, KeyCreateSchema, KeySchema, KeyUpdateSchema
from app.api.schemas.plans import PlanLimitSchema, PlanLimitUpdateSchema
from app.api.schemas.users import UserCreateSchema, UserSchema, UserUpdateSchema
from app.services.transactions.tables import ALL_OPERATIONS


@dataclass(frozen=True)
class TableSchemas:
    create: type[Schema] | None
    update: type[Schema] | None
    created: type[Schema] | None
    updated: type[Schema] | None
    operations: tuple[str, ...] = ALL_OPERATIONS
    deleted: type[Schema] | None = None  # None: a delete answers {id, deleted}

    def loader(self, kind: str) -> type[Schema]:
        """The schema that loads a create's or an update's data (one of `operations`)."""
        found = self.create if kind == "create" else self.update
        if found is None:
            raise ValueError(f"this table takes no {kind}")
        return found


BATCH_SCHEMAS: dict[str, TableSchemas] = {
    "api_keys": TableSchemas(KeyCreateSchema, KeyUpdateSchema, KeyCreatedSchema, KeySchema),
    "accounts": TableSchemas(AccountCreateSchema, AccountUpdateSchema, AccountCreatedSchema,
                             AccountSchema),
    "users": TableSchemas(UserCreateSchema, UserUpdateSchema, UserSchema, UserSchema,
                          operations=("create", "update")),
    "models": TableSchemas(ModelCreateSchema, ModelUpdateSchema, ModelSchema, ModelSchema,
                           deleted=ModelSchema),
    "plans": TableSchemas(None, PlanLimitUpdateSchema, None, PlanLimitSchema,
                          operations=("update",)),
}


def dump_result(table: str, kind: str, result):
    """A result as the table's single route would show it."""
    schemas = BATCH_SCHEMAS[table]
    shown = {"create": schemas.created, "update": schemas.updated, "delete": schemas.deleted}
    schema = shown[kind]
    return result if schema is None else schema().dump(result)

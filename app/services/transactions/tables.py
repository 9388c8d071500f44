"""The tables a batch may change, each through the same service as its single routes.

A table is an object with the `operations` its routes offer and, for each, `create(data)`,
`update(row_id, data)` or `delete(row_id)`, calling that service; `data` has been validated by
the table's schemas (app/api/batch_tables.py). app/bootstrap.py hands TransactionService each
table, one entry each: a service with those very methods (KeyService, AccountService) as
`ServiceTable(service)`, e.g. `"accounts": ServiceTable(accounts)`; others through a small
adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.services.plans import PlanService
    from app.services.users import UserService

TABLE_NAMES = ("api_keys", "accounts", "users", "models", "plans")
ALL_OPERATIONS = ("create", "update", "delete")


@dataclass(frozen=True)
class Operation:
    type: str  # 'create' | 'update' | 'delete'
    table: str
    data: dict
    row_id: str | None = None


@dataclass(frozen=True)
class Applied:
    """What one operation did: the service's answer, for the API to show as its route does."""

    table: str
    type: str
    result: Any


class BatchTable:
    """Only the methods named in `operations` are ever called (the batch is checked first)."""

    operations: tuple[str, ...] = ()

    def create(self, data: dict) -> Any:
        raise NotImplementedError

    def update(self, row_id: str, data: dict) -> Any:
        raise NotImplementedError

    def delete(self, row_id: str) -> Any:
        raise NotImplementedError


class ServiceTable(BatchTable):
    """A table whose service already has create(data), update(id, changes) and delete(id)."""

    operations = ALL_OPERATIONS

    def __init__(self, service: Any) -> None:  # keys', accounts' or models' service
        self.service = service

    def create(self, data: dict):
        return self.service.create(data)

    def update(self, row_id: str, data: dict):
        return self.service.update(row_id, data)

    def delete(self, row_id: str) -> dict:
        self.service.delete(row_id)
        return {"id": row_id, "deleted": True}


class UserTable(BatchTable):
    """Users are created and changed, never deleted: their routes offer no delete."""

    operations = ("create", "update")

    def __init__(self, users: UserService) -> None:
        self.users = users

    def create(self, data: dict):
        return self.users.create(**data)

    def update(self, row_id: str, data: dict):
        return self.users.update(row_id, data)


class ModelTable(ServiceTable):
    """A delete deactivates, as DELETE /api/models/{id} does: usage history refers to the row."""

    def delete(self, row_id: str):
        return self.service.deactivate(row_id)


class PlanTable(BatchTable):
    """Plan limits are only set, keyed `plan/modelType` as in PUT /api/plans/{plan}/{modelType}."""

    operations = ("update",)

    def __init__(self, plans: PlanService) -> None:
        self.plans = plans

    def update(self, row_id: str, data: dict):
        plan, _, model_type = row_id.partition("/")
        return self.plans.set(plan, model_type, **data)

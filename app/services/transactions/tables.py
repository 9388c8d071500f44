"""The tables a batch may change, each through the same service as its single routes.

A table is an object with `create(data)`, `update(row_id, data)` and `delete(row_id)`, calling
that service; `data` has been validated by the table's schemas (app/api/batch_tables.py).
Other features register theirs in create_app, one line each: a service with those very
methods (KeyService, AccountService, ModelService) as `ServiceTable(service)`, e.g.
`transactions.register("accounts", ServiceTable(accounts))`; others through a small adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

TABLE_NAMES = ("api_keys", "accounts", "users", "models", "plans")


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


class BatchTable(Protocol):
    def create(self, data: dict) -> Any: ...

    def update(self, row_id: str, data: dict) -> Any: ...

    def delete(self, row_id: str) -> Any: ...


class ServiceTable:
    """A table whose service already has create(data), update(id, changes) and delete(id)."""

    def __init__(self, service):
        self.service = service

    def create(self, data: dict):
        return self.service.create(data)

    def update(self, row_id: str, data: dict):
        return self.service.update(row_id, data)

    def delete(self, row_id: str) -> dict:
        self.service.delete(row_id)
        return {"id": row_id, "deleted": True}

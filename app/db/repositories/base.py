"""The shared shape of a repository."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session

T = TypeVar("T")


class Repository(Generic[T]):
    model: type[T]

    def __init__(self, session: Session):
        self.session = session

    def add(self, row: T) -> T:
        self.session.add(row)
        return row

    def get(self, row_id, *, for_update: bool = False) -> T | None:
        return self.session.get(self.model, row_id, with_for_update=for_update or None)

    def delete(self, row: T) -> None:
        self.session.delete(row)

    def cursor(self, row: T):
        """Where the page after `row` starts, for repositories that offer `page_after`."""
        return row.id  # type: ignore[attr-defined]  # only models with an `id` are paged

    def _execute(self, statement: Executable, params: dict | None = None) -> CursorResult[Any]:
        """Run an INSERT, UPDATE or DELETE whose `rowcount` the caller reads (SQLAlchemy
        types every `execute` as a plain Result, which has none)."""
        return cast(CursorResult[Any], self.session.execute(statement, params))

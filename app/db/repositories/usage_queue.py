"""The usage queue's ledger rows: added to atomically, summed."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select

from app.db.models.usage_queue import UsageQueueLedger
from app.db.repositories.upsert import insert_of

_LEDGER = UsageQueueLedger.__table__


@functools.cache
def _add_statement(dialect_name: str):
    """The upsert adding to one instance's row, built once per dialect: every app worker
    writes it about once a second and every drain pass once, so it is not rebuilt (and its
    cache key not computed) each time."""
    insert = insert_of(dialect_name, _LEDGER)
    return insert.values(
        instance=bindparam("instance"), queued=bindparam("queued"),
        confirmed=bindparam("confirmed"), lost=bindparam("lost"),
        updated_at=bindparam("updated_at", type_=_LEDGER.c.updated_at.type),
    ).on_conflict_do_update(
        index_elements=["instance"],
        set_={"queued": _LEDGER.c.queued + insert.excluded.queued,
              "confirmed": _LEDGER.c.confirmed + insert.excluded.confirmed,
              "lost": _LEDGER.c.lost + insert.excluded.lost,
              "updated_at": insert.excluded.updated_at})


class UsageQueueLedgerRepository:
    def __init__(self, session):
        self.session = session

    def add(self, instance: str, *, queued: int = 0, confirmed: int = 0, lost: int = 0) -> None:
        """Add to an instance's totals in one upsert, so concurrent processes never lose one."""
        self.session.execute(_add_statement(self.session.get_bind().dialect.name), {
            "instance": instance, "queued": queued, "confirmed": confirmed, "lost": lost,
            "updated_at": datetime.now(UTC)})

    def totals(self) -> dict[str, int]:
        """{queued, confirmed, lost} summed over every instance."""
        row = self.session.execute(select(
            func.coalesce(func.sum(UsageQueueLedger.queued), 0),
            func.coalesce(func.sum(UsageQueueLedger.confirmed), 0),
            func.coalesce(func.sum(UsageQueueLedger.lost), 0))).one()
        return {"queued": int(row[0]), "confirmed": int(row[1]), "lost": int(row[2])}

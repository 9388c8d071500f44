"""The usage queue's ledger rows: added to atomically, summed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from app.db.models.usage_queue import UsageQueueLedger
from app.db.repositories.upsert import insert_for


class UsageQueueLedgerRepository:
    def __init__(self, session):
        self.session = session

    def add(self, instance: str, *, queued: int = 0, confirmed: int = 0, lost: int = 0) -> None:
        """Add to an instance's totals in one upsert, so concurrent processes never lose one."""
        insert = insert_for(self.session, UsageQueueLedger)
        statement = insert.values(instance=instance, queued=queued, confirmed=confirmed,
                                  lost=lost, updated_at=datetime.now(UTC))
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["instance"],
            set_={"queued": UsageQueueLedger.queued + insert.excluded.queued,
                  "confirmed": UsageQueueLedger.confirmed + insert.excluded.confirmed,
                  "lost": UsageQueueLedger.lost + insert.excluded.lost,
                  "updated_at": insert.excluded.updated_at}))

    def totals(self) -> dict[str, int]:
        """{queued, confirmed, lost} summed over every instance."""
        row = self.session.execute(select(
            func.coalesce(func.sum(UsageQueueLedger.queued), 0),
            func.coalesce(func.sum(UsageQueueLedger.confirmed), 0),
            func.coalesce(func.sum(UsageQueueLedger.lost), 0))).one()
        return {"queued": int(row[0]), "confirmed": int(row[1]), "lost": int(row[2])}

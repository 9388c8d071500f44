"""Staged transactions and their operations; every state change is one conditional UPDATE."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, tuple_, update

from app.db.models import StagedOperation, StagedTransaction
from app.db.repositories.base import Repository

KEEP_FINISHED = timedelta(days=1)


class StagedTransactionRepository(Repository[StagedTransaction]):
    model = StagedTransaction

    def next_position(self, transaction_id: str, now: datetime) -> int | None:
        """Reserve the next operation's place in an open, unexpired transaction (or None)."""
        return self.session.execute(
            update(StagedTransaction)
            .where(StagedTransaction.id == transaction_id, StagedTransaction.status == "open",
                   StagedTransaction.expires_at > now)
            .values(operation_count=StagedTransaction.operation_count + 1)
            .returning(StagedTransaction.operation_count)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()

    def finish(self, transaction_id: str, status: str, now: datetime) -> int | None:
        """Close an open, unexpired transaction; answers its operation count (or None)."""
        return self.session.execute(
            update(StagedTransaction)
            .where(StagedTransaction.id == transaction_id, StagedTransaction.status == "open",
                   StagedTransaction.expires_at > now)
            .values(status=status, finished_at=now)
            .returning(StagedTransaction.operation_count)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()

    def discard_stale(self, now: datetime) -> None:
        """Expire what timed out, drop the operations of every closed transaction, and forget
        transactions closed long ago."""
        self.session.execute(
            update(StagedTransaction)
            .where(StagedTransaction.status == "open", StagedTransaction.expires_at <= now)
            .values(status="expired", finished_at=now)
            .execution_options(synchronize_session=False))
        closed = select(StagedTransaction.id).where(StagedTransaction.status != "open")
        self.session.execute(delete(StagedOperation)
                             .where(StagedOperation.transaction_id.in_(closed))
                             .execution_options(synchronize_session=False))
        self.session.execute(delete(StagedTransaction)
                             .where(StagedTransaction.status != "open",
                                    StagedTransaction.finished_at < now - KEEP_FINISHED)
                             .execution_options(synchronize_session=False))


class StagedOperationRepository(Repository[StagedOperation]):
    model = StagedOperation

    def list_for(self, transaction_id: str, count: int) -> list[StagedOperation]:
        return list(self.session.scalars(
            select(StagedOperation)
            .where(StagedOperation.transaction_id == transaction_id,
                   StagedOperation.position <= count)
            .order_by(StagedOperation.position)))

    def delete_for(self, transaction_id: str) -> None:
        self.session.execute(delete(StagedOperation)
                             .where(StagedOperation.transaction_id == transaction_id)
                             .execution_options(synchronize_session=False))

    def page_after(self, after: tuple[str, int] | str, limit: int, *,
                   for_update: bool = False) -> list[StagedOperation]:
        """For secret rotation: `after` is a cursor() of the previous page, or "" to start."""
        query = select(StagedOperation).order_by(StagedOperation.transaction_id,
                                                 StagedOperation.position).limit(limit)
        if after:
            query = query.where(tuple_(StagedOperation.transaction_id, StagedOperation.position)
                                > tuple_(*after))
        return list(self.session.scalars(query.with_for_update() if for_update else query))

    def cursor(self, row: StagedOperation) -> tuple[str, int]:
        return row.transaction_id, row.position

"""TransactionService: batchOperation, and begin/commit/rollback as staged transactions.

A staged transaction never holds a database connection between requests: its operations are
stored as they come, and the commit applies them all in one database transaction at the
isolation level asked for. The commit first closes the transaction row inside that same
transaction, so two commits cannot both apply it, and a timed-out one cannot be applied at all.

An operation may carry secrets (an account's API key, OAuth tokens, proxy password): it is stored
sealed by the SecretBox, covered by `rotate-secrets`, and deleted by the commit that applies it
(a rolled-back, failed or expired transaction's operations go at the next clean-up).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Unpack

from app.cache import codec, deferred_invalidations
from app.crypto import SecretBox
from app.db.models import StagedOperation, StagedTransaction
from app.errors import Conflict, DomainError, Gone, InvalidInput, RecordNotFound
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry
from app.services.transactions.tables import TABLE_NAMES, Applied, BatchTable, Operation

ISOLATION_LEVELS = {"READ_COMMITTED": "READ COMMITTED", "SERIALIZABLE": "SERIALIZABLE"}
MAX_OPERATIONS = 500


class TransactionService(Service):
    def __init__(self, *, dialect: str, box: SecretBox,
                 tables: Mapping[str, BatchTable] | None = None,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.dialect = dialect
        self.box = box
        self.tables: dict[str, BatchTable] = {}
        for table, handler in (tables or {}).items():
            self.register(table, handler)

    def register(self, table: str, handler: BatchTable) -> None:
        if table not in TABLE_NAMES:
            raise ValueError(f"unknown batch table {table!r}")
        self.tables[table] = handler

    # batchOperation
    def run_batch(self, operations: list[Operation], *,
                  isolation_level: str = "READ_COMMITTED") -> list[Applied]:
        """All operations in one transaction, in order; the first failure undoes them all."""
        self._check(operations)
        return self._apply(lambda uow: operations, isolation_level)

    # beginTransaction / commitTransaction / rollbackTransaction
    @db_retry
    def begin(self, *, isolation_level: str = "READ_COMMITTED", read_only: bool = False,
              timeout: int = 60) -> dict:
        now = self.clock()
        staged = StagedTransaction(isolation_level=isolation_level, read_only=read_only,
                                   timeout_seconds=timeout, status="open", operation_count=0,
                                   created_at=now, expires_at=now + timedelta(seconds=timeout))
        with self.uow() as uow:
            uow.staged_transactions.discard_stale(now)
            uow.staged_transactions.add(staged)
            uow.commit()
        return _public(staged)

    @db_retry
    def get(self, transaction_id: str) -> dict:
        with self.uow() as uow:
            staged = uow.staged_transactions.get(transaction_id)
        if staged is None:
            raise RecordNotFound("transaction")
        public = _public(staged)
        if staged.status == "open" and staged.expires_at <= self.clock():
            public["status"] = "expired"
        return public

    @db_retry
    def stage(self, transaction_id: str, operation: Operation) -> dict:
        self._check([operation])
        now = self.clock()
        with self.uow() as uow:
            staged = uow.staged_transactions.get(transaction_id)
            if staged is not None and staged.read_only:
                raise InvalidInput("The transaction is read-only.", code="READ_ONLY_TRANSACTION")
            position = uow.staged_transactions.next_position(transaction_id, now)
            if position is None:
                raise self._unusable(staged, now)
            if position > MAX_OPERATIONS:
                raise InvalidInput(f"A transaction holds at most {MAX_OPERATIONS} operations.")
            uow.staged_operations.add(StagedOperation(
                transaction_id=transaction_id, position=position, type=operation.type,
                table_name=operation.table,
                data_sealed=self.box.encrypt(codec.dumps(operation.data)),
                row_id=operation.row_id, created_at=now))
            uow.commit()
        return {"transaction_id": transaction_id, "position": position - 1,
                "operation_count": position}

    def commit(self, transaction_id: str) -> dict:
        """Apply the staged operations in one transaction; 409/410 once closed or expired."""
        with self.uow() as uow:
            staged = uow.staged_transactions.get(transaction_id)
        if staged is None:
            raise RecordNotFound("transaction")
        if staged.read_only:
            # Nothing can be staged in a read-only transaction, so committing it only closes it;
            # a read-only database transaction would refuse even that write.
            self._close(transaction_id, "committed")
            return {**_public(staged), "status": "committed", "operation_count": 0,
                    "results": []}

        def close_and_load(uow) -> list[Operation]:
            count = uow.staged_transactions.finish(transaction_id, "committed", self.clock())
            if count is None:
                raise self._unusable(uow.staged_transactions.get(transaction_id), self.clock())
            operations = [
                Operation(op.type, op.table_name, codec.loads(self.box.decrypt(op.data_sealed)),
                          op.row_id)
                for op in uow.staged_operations.list_for(transaction_id, count)]
            uow.staged_operations.delete_for(transaction_id)  # gone with the commit
            return operations

        try:
            results = self._apply(close_and_load, staged.isolation_level)
        except DomainError as error:
            if "index" in error.extra:  # an operation failed: the transaction is spent
                self._close(transaction_id, "failed")
            raise
        return {**_public(staged), "status": "committed", "operation_count": len(results),
                "results": results}

    def rollback(self, transaction_id: str) -> dict:
        staged = self._close(transaction_id, "rolled_back")
        return {**_public(staged), "status": "rolled_back"}

    @db_retry
    def _close(self, transaction_id: str, status: str) -> StagedTransaction:
        now = self.clock()
        with self.uow() as uow:
            staged = uow.staged_transactions.get(transaction_id)
            if staged is None or uow.staged_transactions.finish(transaction_id, status,
                                                                now) is None:
                raise self._unusable(staged, now)
            uow.staged_transactions.discard_stale(now)
            uow.commit()
        return staged

    @db_retry
    def _apply(self, load: Callable, isolation_level: str) -> list[Applied]:
        isolation = None if self.dialect == "sqlite" else ISOLATION_LEVELS[isolation_level]
        with (deferred_invalidations() as invalidations,
              self.uow.shared(isolation_level=isolation) as uow):
            operations = load(uow)
            results = [self._one(index, operation) for index, operation in enumerate(operations)]
            uow.commit()
        invalidations.apply()  # only now that the whole transaction has committed
        return results

    def _one(self, index: int, operation: Operation) -> Applied:
        table = self.tables[operation.table]
        try:
            if operation.type == "create":
                result = table.create(operation.data)
            elif operation.row_id is None:  # the API's schema asks every other for where: {id}
                raise InvalidInput("An update or delete needs where: {id}.",
                                   details={"where": ["Required."]})
            elif operation.type == "update":
                result = table.update(operation.row_id, operation.data)
            else:
                result = table.delete(operation.row_id)
        except DomainError as error:
            error.extra["index"] = index  # which operation failed, for the answer
            raise
        return Applied(operation.table, operation.type, result)

    def _check(self, operations: list[Operation]) -> None:
        if len(operations) > MAX_OPERATIONS:
            raise InvalidInput(f"A batch holds at most {MAX_OPERATIONS} operations.")
        for index, operation in enumerate(operations):
            table = self.tables.get(operation.table)
            if table is None:
                raise InvalidInput(f"The {operation.table} table cannot be changed in a batch "
                                   "yet.", details={"table": ["Not available."]}, index=index)
            if operation.type not in table.operations:
                offered = ", ".join(table.operations)
                raise InvalidInput(
                    f"The {operation.table} table takes no {operation.type} in a batch; its "
                    f"routes offer only: {offered}.",
                    details={"type": [f"Must be one of: {offered}."]}, index=index)

    def _unusable(self, staged: StagedTransaction | None, now) -> DomainError:
        if staged is None:
            return RecordNotFound("transaction")
        if staged.status == "expired" or (staged.status == "open" and staged.expires_at <= now):
            return Gone(f"The transaction timed out after {staged.timeout_seconds} s; its "
                        "operations were discarded.", code="TRANSACTION_EXPIRED")
        return Conflict(f"The transaction is already {staged.status.replace('_', ' ')}.",
                        code="TRANSACTION_CLOSED", details={"status": staged.status})



def _public(staged: StagedTransaction) -> dict:
    return {"transaction_id": staged.id, "status": staged.status,
            "isolation_level": staged.isolation_level, "read_only": staged.read_only,
            "timeout": staged.timeout_seconds, "operation_count": staged.operation_count,
            "created_at": staged.created_at, "expires_at": staged.expires_at}

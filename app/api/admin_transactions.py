"""Batches and staged transactions (TransactionInterface), for admins."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_required
from app.api.batch_tables import dump_result
from app.api.deps import services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.transactions import (
    BatchResultSchema,
    BatchSchema,
    CommittedSchema,
    OperationSchema,
    StagedSchema,
    TransactionBeginSchema,
    TransactionSchema,
)

blp = EnvelopeBlueprint(
    "admin_transactions", __name__, url_prefix="/api/admin",
    description="""Batches and transactions over these tables, through the same services as
their single routes: same validation, same cache invalidation, done after the commit. Each
table takes only the operations its routes offer; any other is refused with 422.

| table | operations, as its routes do | `where.id` |
| --- | --- | --- |
| `api_keys` | create, update, delete (`/api/keys`) | key id |
| `accounts` | create, update, delete (`/api/accounts`) | account id |
| `users` | create, update (`/api/users`); no delete | user id |
| `models` | create, update, delete: deactivates (`/api/models`) | model id, e.g. `openai/gpt-4o` |
| `plans` | update: `limit` and `period` (`PUT /api/plans/...`) | `plan/modelType`: `free/basic` |

`beginTransaction`, `commitTransaction` and `rollbackTransaction` are **staged transactions**.
Holding a database transaction open across HTTP requests would pin a pooled connection (and
its row locks) to a client that may never come back, and would tie the client to one worker
and one instance. Instead, `POST /transactions` opens a record, each `POST .../operations`
validates and stores one operation, and `POST .../commit` applies them all in one database
transaction at the isolation level asked for: all or nothing. `POST .../rollback`, or the
`timeout` passing, discards them; a later commit answers 409 (already committed, rolled back
or failed) or 410 (timed out). Reads inside a staged transaction are not offered: what the
operations see is the database at commit time.""")


def _shown(applied) -> list:
    return [dump_result(a.table, a.type, a.result) for a in applied]


@blp.route("/batch")
class Batch(MethodView):
    @admin_required
    @blp.arguments(BatchSchema)
    @blp.response(200, BatchResultSchema)
    @blp.alt_response(422, schema=ErrorEnvelopeSchema, description="An operation did not "
                      "validate, or its table does not offer its type; nothing was changed. "
                      "`details.operations` names it by index.")
    @blp.alt_response(404, schema=ErrorEnvelopeSchema, description="An operation's row does "
                      "not exist; nothing was changed. `error.index` names the operation.")
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="An operation's id, email "
                      "or name is taken; nothing was changed. `error.index` names it.")
    def post(self, body):
        """Apply operations in one transaction (batchOperation)

        `operations` are `{type: create|update|delete, table, data, where: {id}}`, applied in
        order; `table` is one of api_keys, accounts, users, models, plans, each taking the
        operations its routes offer (see the table in this tag's description). The first
        failure undoes every operation and is answered with its `index`.
        """
        applied = services().transactions.run_batch(
            body["operations"], isolation_level=body["options"]["isolation_level"])
        return {"results": _shown(applied)}


@blp.route("/transactions")
class Transactions(MethodView):
    @admin_required
    @blp.arguments(TransactionBeginSchema)
    @blp.response(201, TransactionSchema)
    def post(self, options):
        """Begin a staged transaction (beginTransaction)"""
        return services().transactions.begin(**options)


@blp.route("/transactions/<transaction_id>")
class Transaction(MethodView):
    @admin_required
    @blp.response(200, TransactionSchema)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema)
    def get(self, transaction_id):
        """A staged transaction's state"""
        return services().transactions.get(transaction_id)


@blp.route("/transactions/<transaction_id>/operations")
class TransactionOperations(MethodView):
    @admin_required
    @blp.arguments(OperationSchema)
    @blp.response(201, StagedSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="Already closed.")
    @blp.alt_response(410, schema=ErrorEnvelopeSchema, description="Timed out.")
    def post(self, operation, transaction_id):
        """Stage one operation (the shape of a batch operation)"""
        return services().transactions.stage(transaction_id, operation)


@blp.route("/transactions/<transaction_id>/commit")
class TransactionCommit(MethodView):
    @admin_required
    @blp.response(200, CommittedSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="Already closed.")
    @blp.alt_response(410, schema=ErrorEnvelopeSchema, description="Timed out.")
    def post(self, transaction_id):
        """Commit: apply every staged operation in one transaction (commitTransaction)

        The answer lists each operation's result, in order. If one fails, none is applied,
        the error names it by `index`, and the transaction is closed as failed.
        """
        committed = services().transactions.commit(transaction_id)
        return {**committed, "results": _shown(committed["results"])}


@blp.route("/transactions/<transaction_id>/rollback")
class TransactionRollback(MethodView):
    @admin_required
    @blp.response(200, TransactionSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="Already closed.")
    @blp.alt_response(410, schema=ErrorEnvelopeSchema, description="Timed out.")
    def post(self, transaction_id):
        """Roll back: discard the staged operations (rollbackTransaction)"""
        return services().transactions.rollback(transaction_id)

"""Schemas of batches and staged transactions (TransactionInterface)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from app.api.batch_tables import BATCH_SCHEMAS
from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema
from app.services.transactions.service import ISOLATION_LEVELS, MAX_OPERATIONS
from app.services.transactions.tables import TABLE_NAMES, Operation

_isolation = fields.String(data_key="isolationLevel", load_default="READ_COMMITTED",
                           validate=validate.OneOf(list(ISOLATION_LEVELS)))


class WhereSchema(BodySchema):
    id = fields.String(required=True, validate=validate.Length(1, 64))


class OperationSchema(BodySchema):
    """One operation; `data` is validated by the table's own create or update schema."""

    example = {"type": "create", "table": "api_keys", "data": {"name": "staged-key"}}

    type = fields.String(required=True, validate=validate.OneOf(["create", "update", "delete"]))
    table = fields.String(required=True, validate=validate.OneOf(TABLE_NAMES))
    data = fields.Dict(load_default=dict)
    where = fields.Nested(WhereSchema)

    @validates_schema
    def _where_and_table(self, data, **kwargs):
        if data["type"] == "create" and "where" in data:
            raise ValidationError("A create takes no where.", "where")
        if data["type"] != "create" and "where" not in data:
            raise ValidationError("An update or delete needs where: {id}.", "where")
        if data["type"] == "delete" and data["data"]:
            raise ValidationError("A delete takes no data.", "data")
        if data["table"] not in BATCH_SCHEMAS:
            raise ValidationError(f"The {data['table']} table cannot be changed in a batch "
                                  "yet.", "table")
        offered = BATCH_SCHEMAS[data["table"]].operations
        if data["type"] not in offered:
            raise ValidationError(f"The {data['table']} table takes no {data['type']} in a "
                                  f"batch; its routes offer only: {', '.join(offered)}.", "type")

    @post_load
    def _to_operation(self, data, **kwargs) -> Operation:
        schemas = BATCH_SCHEMAS[data["table"]]
        values = data["data"]
        if data["type"] != "delete":
            try:
                values = schemas.loader(data["type"])().load(values)
            except ValidationError as error:
                raise ValidationError({"data": error.messages}) from error
        return Operation(data["type"], data["table"], values, (data.get("where") or {}).get("id"))


class BatchOptionsSchema(BodySchema):
    isolation_level = _isolation


class BatchSchema(BodySchema):
    example = {"operations": [
        {"type": "create", "table": "users",
         "data": {"email": "grace@example.com", "plan": "premium"}},
        {"type": "create", "table": "api_keys",
         "data": {"name": "grace-laptop", "permissions": "claude"}},
    ], "options": {"isolationLevel": "READ_COMMITTED"}}

    operations = fields.List(fields.Nested(OperationSchema), required=True,
                             validate=validate.Length(1, MAX_OPERATIONS))
    options = fields.Nested(BatchOptionsSchema, load_default=lambda: {
        "isolation_level": "READ_COMMITTED"})


class BatchResultSchema(CamelSchema):
    results = fields.List(fields.Raw(), metadata={
        "description": "One per operation, in order: the row as its single route shows it "
                       "(a create of an API key includes the plaintext `apiKey`, once), or "
                       "{id, deleted} for a delete."})


class TransactionBeginSchema(BodySchema):
    example = {"isolationLevel": "READ_COMMITTED", "readOnly": False, "timeout": 60}

    isolation_level = _isolation
    read_only = fields.Boolean(load_default=False)
    timeout = fields.Integer(load_default=60, validate=validate.Range(1, 3600), metadata={
        "description": "Seconds the transaction stays open for staging and commit."})


class TransactionSchema(CamelSchema):
    transaction_id = fields.String()
    status = fields.String(metadata={"description": "open, committed, rolled_back, failed or "
                                                    "expired."})
    isolation_level = fields.String()
    read_only = fields.Boolean()
    timeout = fields.Integer()
    operation_count = fields.Integer()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()


class StagedSchema(CamelSchema):
    transaction_id = fields.String()
    position = fields.Integer(metadata={"description": "The operation's index, from 0."})
    operation_count = fields.Integer()


class CommittedSchema(TransactionSchema):
    results = fields.List(fields.Raw())

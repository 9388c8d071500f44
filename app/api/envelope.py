"""Our one answer shape: {"success": true, "data": ...} or {"success": false, "error": {...}}."""

from __future__ import annotations

from functools import cache

from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields

from app.api.schemas.base import CamelSchema


class EmptySchema(Schema):
    """No data: the answer says only that it succeeded."""


class ErrorSchema(CamelSchema):
    """Some errors carry more members (a quota refusal: userPlan, upgradeAction)."""

    class Meta:
        unknown = INCLUDE

    code = fields.String(required=True, metadata={"example": "VALIDATION_ERROR"})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "Per-field messages or other detail."})


class ErrorEnvelopeSchema(Schema):
    success = fields.Boolean(required=True, metadata={"example": False})
    error = fields.Nested(ErrorSchema, required=True)


@cache
def envelope(schema: type[Schema], many: bool = False) -> type[Schema]:
    """A schema class wrapping `schema` in the success envelope (cached: one class per schema)."""
    base = schema.__name__.removesuffix("Schema")
    name = f"{base}{'List' if many else ''}EnvelopeSchema"
    return type(name, (Schema,), {
        "success": fields.Boolean(required=True, metadata={"example": True}),
        "data": fields.Nested(schema, many=many, required=True),
    })


def ok(data) -> dict:
    return {"success": True, "data": data}


class EnvelopeBlueprint(Blueprint):
    """A blueprint whose views return their data alone: flask-smorest's response hooks wrap
    each answer in the success envelope and document it so (`envelope(schema)`)."""

    @staticmethod
    def _prepare_response_content(data):
        return ok(data)

    @staticmethod
    def _make_doc_response_schema(schema: Schema | None) -> Schema | None:
        # An error envelope (every alt_response but one) is already the whole answer.
        if schema is None or "success" in schema.declared_fields:
            return schema
        return envelope(type(schema), many=bool(schema.many))()


def error_body(code: str, message: str, details: dict | None = None, **extra) -> dict:
    error = {"code": code, "message": message, "details": details or {}}
    error.update(extra)
    return {"success": False, "error": error}

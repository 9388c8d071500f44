"""Schemas of the users blueprint."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema, QuerySchema
from app.vocabulary import PLANS

_plan = fields.String(validate=validate.OneOf(PLANS))


class UserUpdateSchema(BodySchema):
    example: dict[str, object] = {"name": "Ada Lovelace", "plan": "premium"}

    name = fields.String(allow_none=True, validate=validate.Length(max=100))
    plan = _plan


class UserCreateSchema(UserUpdateSchema):
    example = {"email": "ada@example.com", "name": "Ada Lovelace", "plan": "free", "credits": 0}

    email = fields.Email(required=True, validate=validate.Length(max=255))
    credits = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))


class UserSchema(CamelSchema):
    id = fields.String()
    email = fields.String()
    name = fields.String(allow_none=True)
    plan = fields.String()
    credits = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class UserQueryArgsSchema(QuerySchema):
    plan = _plan
    email = fields.String(validate=validate.Length(1, 255))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))


class UserPageSchema(CamelSchema):
    users = fields.List(fields.Nested(UserSchema))
    total = fields.Integer()
    page = fields.Integer()
    total_pages = fields.Integer()


class CreditGrantSchema(BodySchema):
    example = {"amount": 100}

    amount = fields.Integer(required=True, validate=validate.Range(1, 10**9), metadata={
        "description": "Credits to add; one credit pays for one use past the plan's limit."})

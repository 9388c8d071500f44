"""Schemas of the account-groups blueprint."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema, QuerySchema
from app.vocabulary import PROVIDERS_SORTED as PROVIDERS

_account_ids = fields.List(fields.String(validate=validate.Length(1, 36)),
                           validate=validate.Length(max=1000),
                           metadata={"description": "Accounts of the group's provider."})


class AccountGroupUpdateSchema(BodySchema):
    example = {"description": "Claude accounts reserved for the platform team",
               "accountIds": []}

    name = fields.String(validate=validate.Length(1, 100))
    description = fields.String(allow_none=True, validate=validate.Length(max=1000))
    account_ids = fields.List(fields.String(validate=validate.Length(1, 36)),
                              validate=validate.Length(max=1000),
                              metadata={"description": "The members (replaces them); "
                                                       "accounts of the group's provider."})


class AccountGroupCreateSchema(AccountGroupUpdateSchema):
    example = {"name": "platform-team", "provider": "claude",
               "description": "Claude accounts reserved for the platform team",
               "accountIds": []}

    id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,36}$"))
    name = fields.String(required=True, validate=validate.Length(1, 100))
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS))


class AccountGroupSchema(CamelSchema):
    id = fields.String()
    name = fields.String()
    provider = fields.String()
    description = fields.String(allow_none=True)
    account_ids = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AccountGroupQueryArgsSchema(QuerySchema):
    provider = fields.String(validate=validate.OneOf(PROVIDERS))

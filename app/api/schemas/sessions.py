"""Schemas of the sessions blueprint (SessionInterface)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema

MAX_TTL = 365 * 24 * 3600


class LoginSchema(BodySchema):
    example = {"username": "admin", "password": "demo-password-change-me"}

    username = fields.String(required=True, validate=validate.Length(1, 100))
    password = fields.String(required=True, validate=validate.Length(1, 1024),
                             load_only=True)


class SessionTokenSchema(CamelSchema):
    session_token = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class SessionCreateSchema(BodySchema):
    example = {"userId": "b1946ac9-2e6f-4c1a-9d0e-5f3a7c2e8b41", "userType": "user",
               "sessionData": {"locale": "en-GB"}, "ttlSeconds": 3600}

    user_id = fields.String(required=True, validate=validate.Length(1, 64))
    user_type = fields.String(required=True,
                              validate=validate.OneOf(["admin", "user"]))
    session_data = fields.Dict(load_default=dict)
    ttl_seconds = fields.Integer(validate=validate.Range(1, MAX_TTL))
    ip_address = fields.String(validate=validate.Length(max=64))
    user_agent = fields.String(validate=validate.Length(max=512))


class SessionSchema(CamelSchema):
    user_id = fields.String(required=True)
    user_type = fields.String(required=True)
    session_data = fields.Dict(required=True)
    expires_at = fields.DateTime(required=True)
    is_valid = fields.Boolean(required=True)


class SessionUpdateSchema(BodySchema):
    example = {"sessionData": {"locale": "en-GB", "theme": "dark"}, "extendTTL": 3600}

    session_data = fields.Dict()
    extend_ttl = fields.Integer(data_key="extendTTL", validate=validate.Range(1, MAX_TTL))


class SessionExpirySchema(CamelSchema):
    expires_at = fields.DateTime(required=True)


class SessionRevokeAllSchema(CamelSchema):
    revoked_sessions = fields.Integer(required=True)


class SessionCleanupSchema(CamelSchema):
    deleted_sessions = fields.Integer(required=True)

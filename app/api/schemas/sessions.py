"""Schemas of the sessions blueprint (SessionInterface)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.schemas.common import BodySchema

MAX_TTL = 365 * 24 * 3600


class LoginSchema(BodySchema):
    example = {"username": "admin", "password": "demo-password-change-me"}

    username = fields.String(required=True, validate=validate.Length(1, 100))
    password = fields.String(required=True, validate=validate.Length(1, 1024),
                             load_only=True)


class SessionTokenSchema(Schema):
    sessionToken = fields.String(required=True)
    expiresAt = fields.DateTime(required=True)


class SessionCreateSchema(BodySchema):
    example = {"userId": "b1946ac9-2e6f-4c1a-9d0e-5f3a7c2e8b41", "userType": "user",
               "sessionData": {"locale": "en-GB"}, "ttlSeconds": 3600}

    user_id = fields.String(data_key="userId", required=True, validate=validate.Length(1, 64))
    user_type = fields.String(data_key="userType", required=True,
                              validate=validate.OneOf(["admin", "user"]))
    session_data = fields.Dict(data_key="sessionData", load_default=dict)
    ttl_seconds = fields.Integer(data_key="ttlSeconds", validate=validate.Range(1, MAX_TTL))
    ip_address = fields.String(data_key="ipAddress", validate=validate.Length(max=64))
    user_agent = fields.String(data_key="userAgent", validate=validate.Length(max=512))


class SessionSchema(Schema):
    userId = fields.String(required=True)
    userType = fields.String(required=True)
    sessionData = fields.Dict(required=True)
    expiresAt = fields.DateTime(required=True)
    isValid = fields.Boolean(required=True)


class SessionUpdateSchema(BodySchema):
    example = {"sessionData": {"locale": "en-GB", "theme": "dark"}, "extendTTL": 3600}

    session_data = fields.Dict(data_key="sessionData")
    extend_ttl = fields.Integer(data_key="extendTTL", validate=validate.Range(1, MAX_TTL))


class SessionExpirySchema(Schema):
    expiresAt = fields.DateTime(required=True)


class SessionRevokeAllSchema(Schema):
    revokedSessions = fields.Integer(required=True)


class SessionCleanupSchema(Schema):
    deletedSessions = fields.Integer(required=True)

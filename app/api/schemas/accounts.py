"""Schemas of the accounts blueprint (the account interface, for every provider)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from app.api.schemas.base import CamelSchema
from app.api.schemas.common import BodySchema, QuerySchema, UTCDateTime
from app.vocabulary import ACCOUNT_STATUSES, PROVIDERS_SORTED, PROXY_TYPES

_ONE_CREDENTIAL = "Give exactly one of oauthData or apiKey."
# Credentials travel in HTTP headers: visible ASCII only.
_secret = [validate.Length(1, 20_000),
           validate.Regexp(r"^[\x21-\x7e]+$", error="Use visible ASCII characters only.")]


class OAuthDataSchema(BodySchema):
    access_token = fields.String(required=True, validate=_secret)
    refresh_token = fields.String(required=True, validate=_secret)
    scopes = fields.List(fields.String(validate=validate.Length(1, 200)), load_default=list,
                         validate=validate.Length(max=100))
    expires_at = UTCDateTime(required=True)


class ProxyConfigSchema(BodySchema):
    type = fields.String(required=True, validate=validate.OneOf(PROXY_TYPES))
    host = fields.String(required=True, validate=[
        validate.Length(1, 255),
        validate.Regexp(r"^[A-Za-z0-9._:-]+$", error="A host name or an IP address, in ASCII "
                                                    "(punycode for an international name).")])
    port = fields.Integer(required=True, strict=True, validate=validate.Range(1, 65535))
    username = fields.String(allow_none=True, validate=validate.Length(1, 255))
    password = fields.String(allow_none=True, validate=validate.Length(1, 1000), metadata={
        "description": "Stored sealed, never shown. Leave it out on update to keep the one "
                       "stored; null removes it."})


class AccountUpdateSchema(BodySchema):
    example = {"description": "Team OpenAI project", "priority": 60, "maxConcurrency": 8}

    name = fields.String(validate=validate.Length(1, 100))
    description = fields.String(allow_none=True, validate=validate.Length(max=1000))
    oauth_data = fields.Nested(OAuthDataSchema)
    api_key = fields.String(validate=_secret)
    base_url = fields.URL(allow_none=True, require_tld=False,
                          schemes={"http", "https"}, validate=validate.Length(max=500),
                          metadata={"description": "As the provider's SDK takes it: OpenAI "
                                    "https://api.openai.com/v1, Anthropic "
                                    "https://api.anthropic.com."})
    proxy_config = fields.Nested(ProxyConfigSchema, allow_none=True)
    priority = fields.Integer(strict=True, validate=validate.Range(0, 1000),
                              metadata={"description": "Higher is preferred."})
    max_concurrency = fields.Integer(allow_none=True, strict=True,
                                     validate=validate.Range(1, 100_000))
    dedicated = fields.Boolean(metadata={
        "description": "Serve only keys bound to this account or to a group holding it; "
                       "never an unbound key. Default false."})
    supports_responses = fields.Boolean(data_key="supportsResponses", metadata={
        "description": "OpenAI-compatible accounts: the upstream serves the Responses API "
                       "(`{baseUrl}/responses`), so /v1/responses requests are relayed to it "
                       "as sent instead of translated to chat completions. Default false.",
        "example": True})

    @validates_schema
    def _one_credential_at_most(self, data, **kwargs):
        if "oauth_data" in data and "api_key" in data:
            raise ValidationError({"oauthData": [_ONE_CREDENTIAL], "apiKey": [_ONE_CREDENTIAL]})


class AccountCreateSchema(AccountUpdateSchema):
    example = {"name": "my-openai", "provider": "openai", "apiKey": "sk-proj-replace-me",
               "baseUrl": "https://api.openai.com/v1", "priority": 10,
               "supportsResponses": True,
               "description": "Backup: accounts of a higher priority (default 50) go first."}

    name = fields.String(required=True, validate=validate.Length(1, 100))
    provider = fields.String(required=True, validate=validate.OneOf(PROVIDERS_SORTED))

    @validates_schema
    def _one_credential(self, data, **kwargs):
        if "oauth_data" not in data and "api_key" not in data:
            raise ValidationError({"oauthData": [_ONE_CREDENTIAL], "apiKey": [_ONE_CREDENTIAL]})


class AccountCreatedSchema(CamelSchema):
    id = fields.String()
    name = fields.String()
    status = fields.String()
    created_at = fields.DateTime()


class RateLimitStatusSchema(CamelSchema):
    remaining = fields.Integer(allow_none=True)
    reset_at = fields.DateTime(allow_none=True)


class AccountUsageStatsSchema(CamelSchema):
    total_requests = fields.Integer()
    total_tokens = fields.Integer()
    total_cost = fields.Decimal()


class AccountSummarySchema(CamelSchema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    status = fields.String()
    token_expires_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)
    rate_limit_status = fields.Nested(RateLimitStatusSchema)
    usage_stats = fields.Nested(AccountUsageStatsSchema)


class ProxyViewSchema(CamelSchema):
    type = fields.String()
    host = fields.String()
    port = fields.Integer()
    username = fields.String(allow_none=True)
    has_password = fields.Boolean()


class AccountSchema(AccountSummarySchema):
    provider = fields.String()
    credential_type = fields.String(metadata={"description": "'oauth' or 'api_key'."})
    access_token = fields.String(allow_none=True, metadata={"description": "Masked."})
    api_key = fields.String(allow_none=True, metadata={"description": "Masked."})
    scopes = fields.List(fields.String())
    token_refreshed_at = fields.DateTime(allow_none=True)
    base_url = fields.String(allow_none=True)
    proxy_config = fields.Nested(ProxyViewSchema, allow_none=True)
    priority = fields.Integer()
    max_concurrency = fields.Integer(allow_none=True)
    dedicated = fields.Boolean()
    supports_responses = fields.Boolean()
    error_message = fields.String(allow_none=True)
    cooldown_until = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AccountPageSchema(CamelSchema):
    accounts = fields.List(fields.Nested(AccountSchema))
    total = fields.Integer()
    page = fields.Integer()
    total_pages = fields.Integer()


class AccountQueryArgsSchema(QuerySchema):
    provider = fields.String(validate=validate.OneOf(PROVIDERS_SORTED))
    status = fields.String(validate=validate.OneOf(ACCOUNT_STATUSES))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))


class AvailableArgsSchema(QuerySchema):
    provider = fields.String(validate=validate.OneOf(PROVIDERS_SORTED))
    status = fields.String(validate=validate.OneOf(ACCOUNT_STATUSES),
                           metadata={"description": "Default: active."})
    rate_limit_available = fields.Boolean(metadata={
        "description": "Only accounts with quota left (an unknown remaining counts)."})
    min_tokens_remaining = fields.Integer(validate=validate.Range(0, 2**62))


class StatusMetadataSchema(BodySchema):
    rate_limit_reset_at = UTCDateTime(allow_none=True)
    error_message = fields.String(allow_none=True,
                                  validate=validate.Length(max=2000))
    last_request_at = UTCDateTime(allow_none=True)


class StatusChangeSchema(BodySchema):
    example = {"status": "inactive"}

    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))
    metadata = fields.Nested(StatusMetadataSchema, load_default=dict)


class RefreshResultSchema(CamelSchema):
    access_token = fields.String(metadata={"description": "The new token, unmasked."})
    expires_at = fields.DateTime(allow_none=True)
    refreshed_at = fields.DateTime(allow_none=True)

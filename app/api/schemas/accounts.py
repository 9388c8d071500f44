"""Schemas of the accounts blueprint (the account interface, for every provider)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.api.schemas.common import BodySchema, QuerySchema, UTCDateTime
from app.vocabulary import ACCOUNT_STATUSES, PROVIDERS_SORTED, PROXY_TYPES

_ONE_CREDENTIAL = "Give exactly one of oauthData or apiKey."
# Credentials travel in HTTP headers: visible ASCII only.
_secret = [validate.Length(1, 20_000),
           validate.Regexp(r"^[\x21-\x7e]+$", error="Use visible ASCII characters only.")]


class OAuthDataSchema(BodySchema):
    access_token = fields.String(data_key="accessToken", required=True, validate=_secret)
    refresh_token = fields.String(data_key="refreshToken", required=True, validate=_secret)
    scopes = fields.List(fields.String(validate=validate.Length(1, 200)), load_default=list,
                         validate=validate.Length(max=100))
    expires_at = UTCDateTime(data_key="expiresAt", required=True)


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
    oauth_data = fields.Nested(OAuthDataSchema, data_key="oauthData")
    api_key = fields.String(data_key="apiKey", validate=_secret)
    base_url = fields.URL(data_key="baseUrl", allow_none=True, require_tld=False,
                          schemes={"http", "https"}, validate=validate.Length(max=500),
                          metadata={"description": "As the provider's SDK takes it: OpenAI "
                                    "https://api.openai.com/v1, Anthropic "
                                    "https://api.anthropic.com."})
    proxy_config = fields.Nested(ProxyConfigSchema, data_key="proxyConfig", allow_none=True)
    priority = fields.Integer(strict=True, validate=validate.Range(0, 1000),
                              metadata={"description": "Higher is preferred."})
    max_concurrency = fields.Integer(data_key="maxConcurrency", allow_none=True, strict=True,
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


class AccountCreatedSchema(Schema):
    id = fields.String()
    name = fields.String()
    status = fields.String()
    createdAt = fields.DateTime()


class RateLimitStatusSchema(Schema):
    remaining = fields.Integer(allow_none=True)
    resetAt = fields.DateTime(allow_none=True)


class AccountUsageStatsSchema(Schema):
    totalRequests = fields.Integer()
    totalTokens = fields.Integer()
    totalCost = fields.Decimal()


class AccountSummarySchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    status = fields.String()
    tokenExpiresAt = fields.DateTime(allow_none=True)
    lastUsedAt = fields.DateTime(allow_none=True)
    rateLimitStatus = fields.Nested(RateLimitStatusSchema)
    usageStats = fields.Nested(AccountUsageStatsSchema)


class ProxyViewSchema(Schema):
    type = fields.String()
    host = fields.String()
    port = fields.Integer()
    username = fields.String(allow_none=True)
    hasPassword = fields.Boolean()


class AccountSchema(AccountSummarySchema):
    provider = fields.String()
    credentialType = fields.String(metadata={"description": "'oauth' or 'api_key'."})
    accessToken = fields.String(allow_none=True, metadata={"description": "Masked."})
    apiKey = fields.String(allow_none=True, metadata={"description": "Masked."})
    scopes = fields.List(fields.String())
    tokenRefreshedAt = fields.DateTime(allow_none=True)
    baseUrl = fields.String(allow_none=True)
    proxyConfig = fields.Nested(ProxyViewSchema, allow_none=True)
    priority = fields.Integer()
    maxConcurrency = fields.Integer(allow_none=True)
    dedicated = fields.Boolean()
    supportsResponses = fields.Boolean()
    errorMessage = fields.String(allow_none=True)
    cooldownUntil = fields.DateTime(allow_none=True)
    createdAt = fields.DateTime()
    updatedAt = fields.DateTime()


class AccountPageSchema(Schema):
    accounts = fields.List(fields.Nested(AccountSchema))
    total = fields.Integer()
    page = fields.Integer()
    totalPages = fields.Integer()


class AccountQueryArgsSchema(QuerySchema):
    provider = fields.String(validate=validate.OneOf(PROVIDERS_SORTED))
    status = fields.String(validate=validate.OneOf(ACCOUNT_STATUSES))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))


class AvailableArgsSchema(QuerySchema):
    provider = fields.String(validate=validate.OneOf(PROVIDERS_SORTED))
    status = fields.String(validate=validate.OneOf(ACCOUNT_STATUSES),
                           metadata={"description": "Default: active."})
    rate_limit_available = fields.Boolean(data_key="rateLimitAvailable", metadata={
        "description": "Only accounts with quota left (an unknown remaining counts)."})
    min_tokens_remaining = fields.Integer(data_key="minTokensRemaining",
                                          validate=validate.Range(0, 2**62))


class StatusMetadataSchema(BodySchema):
    rate_limit_reset_at = UTCDateTime(data_key="rateLimitResetAt", allow_none=True)
    error_message = fields.String(data_key="errorMessage", allow_none=True,
                                  validate=validate.Length(max=2000))
    last_request_at = UTCDateTime(data_key="lastRequestAt", allow_none=True)


class StatusChangeSchema(BodySchema):
    example = {"status": "inactive"}

    status = fields.String(required=True, validate=validate.OneOf(ACCOUNT_STATUSES))
    metadata = fields.Nested(StatusMetadataSchema, load_default=dict)


class RefreshResultSchema(Schema):
    accessToken = fields.String(metadata={"description": "The new token, unmasked."})
    expiresAt = fields.DateTime(allow_none=True)
    refreshedAt = fields.DateTime(allow_none=True)

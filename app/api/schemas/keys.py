"""Schemas of the keys blueprint (ApiKeyInterface)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.schemas.common import (
    RECORD_TOKENS,
    BodySchema,
    Money,
    Permissions,
    QuerySchema,
    UTCDateTime,
)
from app.services.keys import permissions as perms
from app.vocabulary import PROVIDERS_SORTED

SORT_FIELDS = {
    "name": "name", "createdAt": "created_at", "updatedAt": "updated_at",
    "lastUsedAt": "last_used_at", "expiresAt": "expires_at", "totalRequests": "total_requests",
    "totalTokens": "total_tokens", "totalCost": "total_cost",
}
_count = validate.Range(min=0, max=2**62)
_tag = fields.String(validate=validate.Length(1, 64))


class KeyUpdateSchema(BodySchema):
    name = fields.String(validate=validate.Length(1, 100))
    description = fields.String(allow_none=True, validate=validate.Length(max=1000))
    permissions = Permissions()
    token_limit = fields.Integer(data_key="tokenLimit", allow_none=True, validate=_count)
    concurrency_limit = fields.Integer(data_key="concurrencyLimit", allow_none=True,
                                       validate=validate.Range(0, 100_000))
    daily_cost_limit = Money(data_key="dailyCostLimit", allow_none=True,
                             validate=validate.Range(0, 10**9))
    requests_per_minute = fields.Integer(data_key="requestsPerMinute", allow_none=True,
                                         validate=validate.Range(0, 1_000_000))
    expires_at = UTCDateTime(data_key="expiresAt", allow_none=True)
    tags = fields.List(_tag, validate=validate.Length(max=50))
    user_id = fields.String(data_key="userId", allow_none=True, validate=validate.Length(1, 36))
    is_active = fields.Boolean(data_key="isActive")


class KeyCreateSchema(KeyUpdateSchema):
    id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,36}$"))
    name = fields.String(required=True, validate=validate.Length(1, 100))


class KeyUsageSchema(Schema):
    totalRequests = fields.Integer(attribute="total_requests")
    totalInputTokens = fields.Integer(attribute="total_input_tokens")
    totalOutputTokens = fields.Integer(attribute="total_output_tokens")
    totalTokens = fields.Integer(attribute="total_tokens")
    totalCost = fields.Decimal(attribute="total_cost")


class KeySchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    hashedKey = fields.String(attribute="hashed_key")
    permissions = fields.Function(lambda key: perms.public(key.permissions))
    tokenLimit = fields.Integer(attribute="token_limit", allow_none=True)
    concurrencyLimit = fields.Integer(attribute="concurrency_limit", allow_none=True)
    dailyCostLimit = fields.Decimal(attribute="daily_cost_limit", allow_none=True)
    requestsPerMinute = fields.Integer(attribute="requests_per_minute", allow_none=True)
    expiresAt = fields.DateTime(attribute="expires_at", allow_none=True)
    tags = fields.List(fields.String())
    userId = fields.String(attribute="user_id", allow_none=True)
    isActive = fields.Boolean(attribute="is_active")
    isDeleted = fields.Boolean(attribute="is_deleted")
    createdAt = fields.DateTime(attribute="created_at")
    updatedAt = fields.DateTime(attribute="updated_at")
    lastUsedAt = fields.DateTime(attribute="last_used_at", allow_none=True)
    deletedAt = fields.DateTime(attribute="deleted_at", allow_none=True)
    usage = fields.Function(lambda key: KeyUsageSchema().dump(key))


class KeyCreatedSchema(KeySchema):
    apiKey = fields.String(attribute="api_key", metadata={
        "description": "The plaintext key. Shown once, in this answer only."})


class KeyQueryArgsSchema(QuerySchema):
    is_active = fields.Boolean(data_key="isActive")
    permissions = fields.String(validate=validate.OneOf(["all", *PROVIDERS_SORTED]))
    tags = fields.List(_tag, load_default=list)
    include_deleted = fields.Boolean(data_key="includeDeleted", load_default=False)
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))
    sort_by = fields.String(data_key="sortBy", load_default="createdAt",
                            validate=validate.OneOf(list(SORT_FIELDS)))
    sort_order = fields.String(data_key="sortOrder", load_default="DESC",
                               validate=validate.OneOf(["ASC", "DESC"]))


class KeyPageSchema(Schema):
    keys = fields.List(fields.Nested(KeySchema))
    total = fields.Integer()
    page = fields.Integer()
    totalPages = fields.Integer()


class KeyValidateSchema(BodySchema):
    hashedKey = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class RateLimitsSchema(Schema):
    concurrency = fields.Integer(allow_none=True)
    daily = fields.Decimal(allow_none=True)
    requests = fields.Integer(allow_none=True)


class KeyValidationSchema(Schema):
    id = fields.String()
    permissions = fields.Raw()
    isActive = fields.Boolean()
    expiresAt = fields.DateTime(allow_none=True)
    rateLimits = fields.Nested(RateLimitsSchema)


class UsageInputSchema(BodySchema):
    model = fields.String(required=True, validate=validate.Length(1, 200))
    input_tokens = fields.Integer(data_key="inputTokens", load_default=0,
                                  validate=RECORD_TOKENS)
    output_tokens = fields.Integer(data_key="outputTokens", load_default=0,
                                   validate=RECORD_TOKENS)
    cost = Money(validate=validate.Range(0, 10**9))
    request_count = fields.Integer(data_key="requestCount", load_default=1,
                                   validate=validate.Range(1, 1_000_000))
    timestamp = UTCDateTime(metadata={
        "description": "Default now. Within the usage retention and at most five minutes ahead."})


class UsageRecordedSchema(Schema):
    recorded = fields.Boolean()
    queued = fields.Boolean(metadata={"description": "Queued for a worker (write_behind)."})


class KeyLimitSchema(Schema):
    name = fields.String(metadata={"description": "tokens, dailyCost, requestsPerMinute, "
                                                  "concurrency, or plan:<plan>:<modelType> "
                                                  "for the plan's quota per model tier."})
    unit = fields.String()
    limit = fields.Decimal(allow_none=True, metadata={"description": "None: no limit."})
    used = fields.Decimal(allow_none=True)
    remaining = fields.Decimal(allow_none=True)
    resetsAt = fields.DateTime(allow_none=True, metadata={"description": "Plan quotas only."})


class KeyReportModelSchema(Schema):
    name = fields.String()
    requests = fields.Integer()
    totalTokens = fields.Integer()
    cost = fields.Decimal()


class AllowedModelSchema(Schema):
    id = fields.String()
    name = fields.String()
    provider = fields.String()
    inputPrice = fields.Decimal(metadata={"description": "USD per million tokens."})
    outputPrice = fields.Decimal(metadata={"description": "USD per million tokens."})


class KeyReportSchema(Schema):
    key = fields.Dict()
    limits = fields.List(fields.Nested(KeyLimitSchema))
    period = fields.String()
    series = fields.List(fields.Dict(), metadata={"description": "Per day: requests, tokens, "
                                                                 "cost (USD)."})
    summary = fields.Dict()
    models = fields.List(fields.Nested(KeyReportModelSchema))
    allowedModels = fields.List(fields.Nested(AllowedModelSchema))

"""Schemas of the keys blueprint (ApiKeyInterface)."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import ValidationError, fields, validate, validates_schema

from app.api.schemas.base import CamelDict, CamelSchema
from app.api.schemas.common import (
    RECORD_TOKENS,
    BodySchema,
    Money,
    Permissions,
    QuerySchema,
    UTCDateTime,
)
from app.services.keys import permissions as perms
from app.services.keys.periods import key_zone
from app.vocabulary import PROVIDERS_SORTED

SORT_FIELDS = {
    "name": "name", "createdAt": "created_at", "updatedAt": "updated_at",
    "lastUsedAt": "last_used_at", "expiresAt": "expires_at", "totalRequests": "total_requests",
    "totalTokens": "total_tokens", "totalCost": "total_cost",
}
_count = validate.Range(min=0, max=2**62)
_tag = fields.String(validate=validate.Length(1, 64))
_MODELS = ("Catalogue ids, names, upstream model names or aliases, or glob patterns over them "
           "(`claude-opus-*`, `openai/*`; matched case-insensitively).")


def _list(data_key: str, description: str, item_length: int = 200):
    return fields.List(fields.String(validate=validate.Length(1, item_length)),
                       data_key=data_key, validate=validate.Length(max=100),
                       metadata={"description": description})


class BindingSchema(BodySchema):
    account_id = fields.String(validate=validate.Length(1, 36))
    group_id = fields.String(validate=validate.Length(1, 36))

    @validates_schema
    def _one_target(self, data, **kwargs):
        if ("account_id" in data) == ("group_id" in data):
            raise ValidationError("Give accountId or groupId.")


def _time_zone(value: str) -> None:
    try:
        key_zone(value)
    except ValueError as error:
        raise ValidationError("An IANA time zone (Asia/Shanghai) or a UTC offset (+08:00).") \
            from error


_usd = validate.Range(0, 10**9)


class WindowLimitSchema(BodySchema):
    window = fields.Integer(required=True, validate=validate.Range(1, 60 * 24 * 31),
                            metadata={"description": "Minutes, e.g. 300 for five hours."})
    requests = fields.Integer(allow_none=True, validate=validate.Range(0, 10**9))
    tokens = fields.Integer(allow_none=True, validate=_count)
    cost = Money(allow_none=True, validate=_usd, metadata={"description": "USD."})

    @validates_schema
    def _one_limit(self, data, **kwargs):
        if all(data.get(name) is None for name in ("requests", "tokens", "cost")):
            raise ValidationError("Give requests, tokens or cost.", field_name="window")


class KeyUpdateSchema(BodySchema):
    example = {"description": "Mobile app, production", "requestsPerMinute": 120,
               "dailyCostLimit": "25.00", "tags": ["mobile"]}

    name = fields.String(validate=validate.Length(1, 100))
    description = fields.String(allow_none=True, validate=validate.Length(max=1000))
    permissions = Permissions()
    token_limit = fields.Integer(allow_none=True, validate=_count)
    concurrency_limit = fields.Integer(allow_none=True,
                                       validate=validate.Range(0, 100_000))
    daily_cost_limit = Money(allow_none=True,
                             validate=validate.Range(0, 10**9))
    requests_per_minute = fields.Integer(allow_none=True,
                                         validate=validate.Range(0, 1_000_000))
    expires_at = UTCDateTime(allow_none=True, metadata={
        "description": "A fixed expiry; setting one ends an activationDays expiry."})
    activation_days = fields.Integer(allow_none=True,
                                     validate=validate.Range(1, 36_500), metadata={
        "description": "Instead of expiresAt: the key expires this many days (or hours, "
                       "activationUnit) after its first admitted request, which sets "
                       "activatedAt and expiresAt."})
    activation_unit = fields.String(validate=validate.OneOf(["days", "hours"]))
    allowed_models = _list("allowedModels", f"Only these models ([]: any). {_MODELS}")
    denied_models = _list("deniedModels", f"Never these models, whatever allowedModels says. "
                                          f"{_MODELS}")
    allowed_clients = _list("allowedClients", (
        "Only these clients ([]: any): claude_code, codex_cli, gemini_cli, openai_sdk, or "
        "`ua:<glob>` for a User-Agent pattern. A convenience, not a security boundary "
        "(docs/key-controls.md)."), item_length=203)
    account_bindings = fields.List(fields.Nested(BindingSchema),
                                   validate=validate.Length(max=100), metadata={
        "description": "Accounts and account groups the key is served by, for their "
                       "providers (failover stays among them); [] unbinds. For a provider "
                       "with no binding the key uses the shared pool, never a dedicated "
                       "account."})
    total_cost_limit = Money(allow_none=True, validate=_usd,
                             metadata={"description": "USD, all time."})
    weekly_cost_limit = Money(allow_none=True, validate=_usd,
                              metadata={"description": "USD per week, from weeklyResetDay at "
                                                       "weeklyResetHour in the key's zone."})
    weekly_reset_day = fields.Integer(allow_none=True,
                                      validate=validate.Range(1, 7), metadata={
                                          "description": "1 Monday .. 7 Sunday (CRS's "
                                                         "numbering); default 1."})
    weekly_reset_hour = fields.Integer(allow_none=True,
                                       validate=validate.Range(0, 23),
                                       metadata={"description": "Default 0."})
    weekly_cost_models = fields.String(allow_none=True,
                                       validate=validate.Length(1, 200), metadata={
                                           "description": "A glob of model ids the weekly "
                                                          "limit counts and applies to "
                                                          "(claude-*); none: every model."})
    time_zone = fields.String(allow_none=True,
                              validate=[validate.Length(1, 64), _time_zone], metadata={
                                  "description": "IANA name or UTC offset of the key's days "
                                                 "and weeks; none: QUOTA_TIMEZONE."})
    window_limits = fields.List(fields.Nested(WindowLimitSchema), allow_none=True,
                                validate=validate.Length(max=10))
    tags = fields.List(_tag, validate=validate.Length(max=50))
    user_id = fields.String(allow_none=True, validate=validate.Length(1, 36))
    is_active = fields.Boolean()


class KeyCreateSchema(KeyUpdateSchema):
    example = {"name": "mobile-app", "description": "Mobile app, production",
               "permissions": ["openai", "claude"], "tokenLimit": 5000000,
               "concurrencyLimit": 10, "dailyCostLimit": "25.00", "requestsPerMinute": 120,
               "tags": ["mobile"]}

    id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,36}$"))
    name = fields.String(required=True, validate=validate.Length(1, 100))


class KeyUsageSchema(CamelSchema):
    total_requests = fields.Integer()
    total_input_tokens = fields.Integer()
    total_output_tokens = fields.Integer()
    total_tokens = fields.Integer()
    total_cost = fields.Decimal()


class KeySchema(CamelSchema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    hashed_key = fields.String()
    permissions = fields.Function(lambda key: perms.public(key.permissions))
    token_limit = fields.Integer(allow_none=True)
    concurrency_limit = fields.Integer(allow_none=True)
    daily_cost_limit = fields.Decimal(allow_none=True)
    requests_per_minute = fields.Integer(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    activation_days = fields.Integer(allow_none=True)
    activation_unit = fields.String()
    activated_at = fields.DateTime(allow_none=True, metadata={
        "description": "When an activationDays key was first used (its period began)."})
    allowed_models = fields.List(fields.String())
    denied_models = fields.List(fields.String())
    allowed_clients = fields.List(fields.String())
    account_bindings = fields.List(fields.Dict(), metadata={
        "description": "Each `{accountId}` or `{groupId}`."})
    total_cost_limit = fields.Decimal(allow_none=True)
    weekly_cost_limit = fields.Decimal(allow_none=True)
    weekly_reset_day = fields.Integer(allow_none=True)
    weekly_reset_hour = fields.Integer(allow_none=True)
    weekly_cost_models = fields.String(allow_none=True)
    time_zone = fields.String(allow_none=True)
    window_limits = fields.Function(lambda key: [
        {**limit, **({"cost": Decimal(limit["cost"])} if "cost" in limit else {})}
        for limit in key.window_limits or []])
    tags = fields.List(fields.String())
    user_id = fields.String(allow_none=True)
    is_active = fields.Boolean()
    is_deleted = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    deleted_at = fields.DateTime(allow_none=True)
    usage = fields.Function(lambda key: KeyUsageSchema().dump(key))


class KeyWithLimitsSchema(KeySchema):
    limits = fields.List(fields.Nested(lambda: KeyLimitSchema()), metadata={
        "description": "Each limit of the key, what is used and what remains now."})


class KeyCreatedSchema(KeySchema):
    api_key = fields.String(metadata={
        "description": "The plaintext key. Shown once, in this answer only."})


class KeyQueryArgsSchema(QuerySchema):
    is_active = fields.Boolean()
    permissions = fields.String(validate=validate.OneOf(["all", *PROVIDERS_SORTED]))
    tags = fields.List(_tag, load_default=list)
    include_deleted = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))
    sort_by = fields.String(load_default="createdAt",
                            validate=validate.OneOf(list(SORT_FIELDS)))
    sort_order = fields.String(load_default="DESC",
                               validate=validate.OneOf(["ASC", "DESC"]))


class KeyPageSchema(CamelSchema):
    keys = fields.List(fields.Nested(KeySchema))
    total = fields.Integer()
    page = fields.Integer()
    total_pages = fields.Integer()


class KeyValidateSchema(BodySchema):
    example = {"hashedKey": "9f2a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a"}

    hashed_key = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class RateLimitsSchema(CamelSchema):
    concurrency = fields.Integer(allow_none=True)
    daily = fields.Decimal(allow_none=True)
    requests = fields.Integer(allow_none=True)


class KeyValidationSchema(CamelSchema):
    id = fields.String()
    permissions = fields.Raw()
    is_active = fields.Boolean()
    expires_at = fields.DateTime(allow_none=True)
    rate_limits = fields.Nested(RateLimitsSchema)


class UsageInputSchema(BodySchema):
    example = {"model": "openai/gpt-4o-mini", "inputTokens": 1200, "outputTokens": 350,
               "requestCount": 1}

    model = fields.String(required=True, validate=validate.Length(1, 200))
    input_tokens = fields.Integer(load_default=0,
                                  validate=RECORD_TOKENS)
    output_tokens = fields.Integer(load_default=0,
                                   validate=RECORD_TOKENS)
    cost = Money(validate=validate.Range(0, 10**9))
    request_count = fields.Integer(load_default=1,
                                   validate=validate.Range(1, 1_000_000))
    timestamp = UTCDateTime(metadata={
        "description": "Default now. Within the usage retention and at most five minutes ahead."})


class UsageRecordedSchema(CamelSchema):
    recorded = fields.Boolean()
    queued = fields.Boolean(metadata={"description": "Queued for a worker (write_behind)."})


class KeyLimitSchema(CamelSchema):
    name = fields.String(metadata={"description": "tokens, totalCost, weeklyCost, dailyCost, "
                                                  "window:<minutes>m:<requests|tokens|cost>, "
                                                  "requestsPerMinute, concurrency, or "
                                                  "plan:<plan>:<modelType> for the plan's "
                                                  "quota per model tier."})
    unit = fields.String()
    limit = fields.Decimal(allow_none=True, metadata={"description": "None: no limit."})
    used = fields.Decimal(allow_none=True)
    remaining = fields.Decimal(allow_none=True)
    window = fields.Integer(metadata={"description": "Window limits: minutes."})
    models = fields.String(allow_none=True, metadata={"description": "weeklyCost: the glob."})
    resets_at = fields.DateTime(allow_none=True, metadata={
        "description": "When a period limit starts again (day, week, plan quota)."})


class KeyReportModelSchema(CamelSchema):
    name = fields.String()
    requests = fields.Integer()
    total_tokens = fields.Integer()
    cost = fields.Decimal()


class AllowedModelSchema(CamelSchema):
    id = fields.String()
    name = fields.String()
    provider = fields.String()
    input_price = fields.Decimal(metadata={"description": "USD per million tokens."})
    output_price = fields.Decimal(metadata={"description": "USD per million tokens."})


class KeyReportSchema(CamelSchema):
    key = CamelDict()
    limits = fields.List(fields.Nested(KeyLimitSchema))
    period = fields.String()
    series = fields.List(CamelDict(), metadata={"description": "Per day: requests, tokens, "
                                                               "cost (USD)."})
    summary = CamelDict()
    models = fields.List(fields.Nested(KeyReportModelSchema))
    allowed_models = fields.List(fields.Nested(AllowedModelSchema))

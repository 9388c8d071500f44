"""Schemas of the usage statistics blueprint (UsageStatsInterface)."""

from __future__ import annotations

from marshmallow import fields, validate

from app.api.schemas.base import CamelSchema, camelcase
from app.api.schemas.common import RECORD_TOKENS, BodySchema, Money, QuerySchema, UTCDateTime
from app.services.usage.query import COST_GROUPS, GRANULARITIES, GROUP_COLUMNS, NO_ACCOUNT
from app.services.usage.retention import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS
from app.vocabulary import PROVIDERS_SORTED

_count = RECORD_TOKENS
_id = validate.Length(1, 36)
_DATE_HELP = ("ISO-8601 with a UTC offset, on a whole UTC hour (URL-encode '+' as %2B, or use "
              "'Z').")


class UsageStatsRecordSchema(BodySchema):
    example = {"apiKeyId": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "accountType": "openai",
               "model": "openai/gpt-4o-mini", "inputTokens": 1200, "outputTokens": 350,
               "requestId": "req_01J9ZC4T8M6QX2V7"}

    api_key_id = fields.String(validate=_id, metadata={
        "description": "Required for admins; an API key records against itself."})
    account_id = fields.String(allow_none=True, validate=_id, metadata={
        "description": "Admins only: an existing account."})
    account_type = fields.String(required=True,
                                 validate=validate.OneOf(PROVIDERS_SORTED))
    model = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "From an API key: a model id or name of the catalogue."})
    input_tokens = fields.Integer(load_default=0, validate=_count)
    output_tokens = fields.Integer(load_default=0, validate=_count)
    cache_write_tokens = fields.Integer(load_default=0,
                                       validate=_count)
    cache_read_tokens = fields.Integer(load_default=0,
                                       validate=_count)
    total_tokens = fields.Integer(validate=_count, metadata={
        "description": "Default: the sum of the four token counts."})
    cost = Money(validate=validate.Range(0, 10**9), metadata={
        "description": "USD. Default: computed from the model catalogue's prices; from an "
                       "API key, never below them."})
    request_count = fields.Integer(load_default=1,
                                   validate=validate.Range(1, 1_000_000))
    request_id = fields.String(validate=validate.Length(1, 128), metadata={
        "description": "Makes the report idempotent: a retry with the same id, for the same "
                       "key and by the same kind of caller, is not counted."})
    timestamp = UTCDateTime(metadata={
        "description": "When the usage happened; default now. Within the usage retention "
                       "and at most five minutes ahead."})


class UsageStatsRecordedSchema(CamelSchema):
    recorded = fields.Boolean(metadata={"description": "False when the requestId was seen."})


class UsageStatsQueryArgsSchema(QuerySchema):
    api_key_id = fields.String(validate=_id)
    account_id = fields.String(validate=_id, metadata={
        "description": f"'{NO_ACCOUNT}' selects usage recorded without an account."})
    model = fields.String(validate=validate.Length(1, 200))
    start_date = fields.AwareDateTime(required=True,
                                      metadata={"description": "Inclusive. " + _DATE_HELP})
    end_date = fields.AwareDateTime(required=True,
                                    metadata={"description": "Exclusive. " + _DATE_HELP})
    granularity = fields.String(load_default="day", validate=validate.OneOf(GRANULARITIES))
    group_by = fields.String(validate=validate.OneOf(list(GROUP_COLUMNS)))
    timezone = fields.String(load_default="UTC", validate=validate.Length(1, 64), metadata={
        "description": "IANA name for bucket boundaries; its offset must be whole hours."})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class UsageStatsTotalsSchema(CamelSchema):
    requests = fields.Integer()
    input_tokens = fields.Integer()
    output_tokens = fields.Integer()
    cache_write_tokens = fields.Integer()
    cache_read_tokens = fields.Integer()
    total_tokens = fields.Integer()
    cost = fields.Decimal()


class _TotalsByName(fields.Dict):
    """{name: totals}, documented as such, each totals' fields renamed to their wire names.

    A month by model is a thousand such members: dumping each through a nested schema would
    cost more than the query that produced them.
    """

    _WIRE = tuple((name, camelcase(name)) for name in UsageStatsTotalsSchema._declared_fields)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return {label: {wire: totals[name] for name, wire in self._WIRE}
                for label, totals in value.items()}


def _members(description: str) -> fields.Dict:
    return _TotalsByName(keys=fields.String(), values=fields.Nested(UsageStatsTotalsSchema),
                         metadata={"description": description})


class UsageStatsRowSchema(UsageStatsTotalsSchema):
    date = fields.DateTime(metadata={"description": "Start of the bucket, in the time zone."})
    models = _members("With groupBy=model: sums per model.")
    accounts = _members(f"With groupBy=account: sums per account ('{NO_ACCOUNT}': none).")
    api_keys = _members("With groupBy=apikey: sums per API key id.")


class UsageStatsSummarySchema(CamelSchema):
    total_requests = fields.Integer()
    total_tokens = fields.Integer()
    total_cost = fields.Decimal()
    average_cost_per_token = fields.Decimal(metadata={"description": "12 places."})
    total_input_tokens = fields.Integer()
    total_output_tokens = fields.Integer()
    total_cache_write_tokens = fields.Integer()
    total_cache_read_tokens = fields.Integer()


class UsageStatsSchema(CamelSchema):
    stats = fields.List(fields.Nested(UsageStatsRowSchema))
    summary = fields.Nested(UsageStatsSummarySchema)


class CostAnalysisQueryArgsSchema(QuerySchema):
    api_key_id = fields.String(validate=_id)
    start_date = fields.AwareDateTime(required=True,
                                      metadata={"description": "Inclusive. " + _DATE_HELP})
    end_date = fields.AwareDateTime(required=True,
                                    metadata={"description": "Exclusive. " + _DATE_HELP})
    group_by = fields.String(load_default="model",
                             validate=validate.OneOf(COST_GROUPS))
    timezone = fields.String(load_default="UTC", validate=validate.Length(1, 64))
    top = fields.Integer(load_default=10, validate=validate.Range(1, 100))


class CostBreakdownSchema(CamelSchema):
    category = fields.String()
    cost = fields.Decimal()
    percentage = fields.Decimal(metadata={"description": "2 places; together exactly 100."})


class CostTrendSchema(CamelSchema):
    date = fields.DateTime()
    cost = fields.Decimal()
    change = fields.Decimal(metadata={"description": "USD against the previous day."})
    change_percent = fields.Decimal(allow_none=True, metadata={
        "description": "Percent against the previous day; null when that day cost nothing."})


class CostTopModelSchema(CamelSchema):
    model = fields.String()
    cost = fields.Decimal()
    requests = fields.Integer()


class CostAnalysisSchema(CamelSchema):
    cost_breakdown = fields.List(fields.Nested(CostBreakdownSchema))
    trends = fields.List(fields.Nested(CostTrendSchema))
    top_models = fields.List(fields.Nested(CostTopModelSchema))
    total_cost = fields.Decimal()


class UsageStatsCleanupSchema(BodySchema):
    example = {"retentionDays": 90}

    retention_days = fields.Integer(validate=validate.Range(
        MIN_RETENTION_DAYS, MAX_RETENTION_DAYS), metadata={
        "description": "Default: RELAYGATE_USAGE_RETENTION_DAYS (90 unless set)."})


class UsageStatsCleanupResultSchema(CamelSchema):
    deleted_records = fields.Integer()
    remaining_records = fields.Integer()

"""Schemas of the usage statistics blueprint (UsageStatsInterface)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

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

    api_key_id = fields.String(data_key="apiKeyId", validate=_id, metadata={
        "description": "Required for admins; an API key records against itself."})
    account_id = fields.String(data_key="accountId", allow_none=True, validate=_id, metadata={
        "description": "Admins only: an existing account."})
    account_type = fields.String(data_key="accountType", required=True,
                                 validate=validate.OneOf(PROVIDERS_SORTED))
    model = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "From an API key: a model id or name of the catalogue."})
    input_tokens = fields.Integer(data_key="inputTokens", load_default=0, validate=_count)
    output_tokens = fields.Integer(data_key="outputTokens", load_default=0, validate=_count)
    cache_write_tokens = fields.Integer(data_key="cacheWriteTokens", load_default=0,
                                       validate=_count)
    cache_read_tokens = fields.Integer(data_key="cacheReadTokens", load_default=0,
                                       validate=_count)
    total_tokens = fields.Integer(data_key="totalTokens", validate=_count, metadata={
        "description": "Default: the sum of the four token counts."})
    cost = Money(validate=validate.Range(0, 10**9), metadata={
        "description": "USD. Default: computed from the model catalogue's prices; from an "
                       "API key, never below them."})
    request_count = fields.Integer(data_key="requestCount", load_default=1,
                                   validate=validate.Range(1, 1_000_000))
    request_id = fields.String(data_key="requestId", validate=validate.Length(1, 128), metadata={
        "description": "Makes the report idempotent: a retry with the same id, for the same "
                       "key and by the same kind of caller, is not counted."})
    timestamp = UTCDateTime(metadata={
        "description": "When the usage happened; default now. Within the usage retention "
                       "and at most five minutes ahead."})


class UsageStatsRecordedSchema(Schema):
    recorded = fields.Boolean(metadata={"description": "False when the requestId was seen."})


class UsageStatsQueryArgsSchema(QuerySchema):
    api_key_id = fields.String(data_key="apiKeyId", validate=_id)
    account_id = fields.String(data_key="accountId", validate=_id, metadata={
        "description": f"'{NO_ACCOUNT}' selects usage recorded without an account."})
    model = fields.String(validate=validate.Length(1, 200))
    start_date = fields.AwareDateTime(data_key="startDate", required=True,
                                      metadata={"description": "Inclusive. " + _DATE_HELP})
    end_date = fields.AwareDateTime(data_key="endDate", required=True,
                                    metadata={"description": "Exclusive. " + _DATE_HELP})
    granularity = fields.String(load_default="day", validate=validate.OneOf(GRANULARITIES))
    group_by = fields.String(data_key="groupBy", validate=validate.OneOf(list(GROUP_COLUMNS)))
    timezone = fields.String(load_default="UTC", validate=validate.Length(1, 64), metadata={
        "description": "IANA name for bucket boundaries; its offset must be whole hours."})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class UsageStatsTotalsSchema(Schema):
    requests = fields.Integer()
    inputTokens = fields.Integer()
    outputTokens = fields.Integer()
    cacheWriteTokens = fields.Integer()
    cacheReadTokens = fields.Integer()
    totalTokens = fields.Integer()
    cost = fields.Decimal()


class _TotalsByName(fields.Dict):
    """{name: totals}, documented as such, passed through as the service shaped it.

    A month by model is a thousand such members: dumping each through a nested schema would
    cost more than the query that produced them.
    """

    def _serialize(self, value, attr, obj, **kwargs):
        return value


def _members(description: str) -> fields.Dict:
    return _TotalsByName(keys=fields.String(), values=fields.Nested(UsageStatsTotalsSchema),
                         metadata={"description": description})


class UsageStatsRowSchema(UsageStatsTotalsSchema):
    date = fields.DateTime(metadata={"description": "Start of the bucket, in the time zone."})
    models = _members("With groupBy=model: sums per model.")
    accounts = _members(f"With groupBy=account: sums per account ('{NO_ACCOUNT}': none).")
    apiKeys = _members("With groupBy=apikey: sums per API key id.")


class UsageStatsSummarySchema(Schema):
    totalRequests = fields.Integer()
    totalTokens = fields.Integer()
    totalCost = fields.Decimal()
    averageCostPerToken = fields.Decimal(metadata={"description": "12 places."})
    totalInputTokens = fields.Integer()
    totalOutputTokens = fields.Integer()
    totalCacheWriteTokens = fields.Integer()
    totalCacheReadTokens = fields.Integer()


class UsageStatsSchema(Schema):
    stats = fields.List(fields.Nested(UsageStatsRowSchema))
    summary = fields.Nested(UsageStatsSummarySchema)


class CostAnalysisQueryArgsSchema(QuerySchema):
    api_key_id = fields.String(data_key="apiKeyId", validate=_id)
    start_date = fields.AwareDateTime(data_key="startDate", required=True,
                                      metadata={"description": "Inclusive. " + _DATE_HELP})
    end_date = fields.AwareDateTime(data_key="endDate", required=True,
                                    metadata={"description": "Exclusive. " + _DATE_HELP})
    group_by = fields.String(data_key="groupBy", load_default="model",
                             validate=validate.OneOf(COST_GROUPS))
    timezone = fields.String(load_default="UTC", validate=validate.Length(1, 64))
    top = fields.Integer(load_default=10, validate=validate.Range(1, 100))


class CostBreakdownSchema(Schema):
    category = fields.String()
    cost = fields.Decimal()
    percentage = fields.Decimal(metadata={"description": "2 places; together exactly 100."})


class CostTrendSchema(Schema):
    date = fields.DateTime()
    cost = fields.Decimal()
    change = fields.Decimal(metadata={"description": "USD against the previous day."})
    changePercent = fields.Decimal(allow_none=True, metadata={
        "description": "Percent against the previous day; null when that day cost nothing."})


class CostTopModelSchema(Schema):
    model = fields.String()
    cost = fields.Decimal()
    requests = fields.Integer()


class CostAnalysisSchema(Schema):
    costBreakdown = fields.List(fields.Nested(CostBreakdownSchema))
    trends = fields.List(fields.Nested(CostTrendSchema))
    topModels = fields.List(fields.Nested(CostTopModelSchema))
    totalCost = fields.Decimal()


class UsageStatsCleanupSchema(BodySchema):
    example = {"retentionDays": 90}

    retention_days = fields.Integer(data_key="retentionDays", validate=validate.Range(
        MIN_RETENTION_DAYS, MAX_RETENTION_DAYS), metadata={
        "description": "Default: RELAYGATE_USAGE_RETENTION_DAYS (90 unless set)."})


class UsageStatsCleanupResultSchema(Schema):
    deletedRecords = fields.Integer()
    remainingRecords = fields.Integer()

"""The usage statistics blueprint: recordUsage, getUsageStats, getCostAnalysis, cleanupOldStats."""

from __future__ import annotations

from flask.views import MethodView

from app.api.auth import admin_or_api_key_required, admin_required, own_key_scope
from app.api.csv_export import stats_csv
from app.api.deps import principal, services
from app.api.envelope import EnvelopeBlueprint, ErrorEnvelopeSchema
from app.api.schemas.usage_stats import (
    CostAnalysisQueryArgsSchema,
    CostAnalysisSchema,
    UsageStatsCleanupResultSchema,
    UsageStatsCleanupSchema,
    UsageStatsQueryArgsSchema,
    UsageStatsRecordedSchema,
    UsageStatsRecordSchema,
    UsageStatsSchema,
)
from app.errors import InvalidInput
from app.services.usage.query import CostQuery, StatsQuery
from app.services.usage.service import UsageRecord

blp = EnvelopeBlueprint(
    "usage_stats", __name__, url_prefix="/api/usage",
    description="Usage statistics and cost analysis (UsageStatsInterface). Admins "
                "see every key; an API key sees its own only.")

_FORBIDDEN = {"schema": ErrorEnvelopeSchema, "description": "An API key asked for another key."}


@blp.route("/records")
class Records(MethodView):
    @admin_or_api_key_required
    @blp.arguments(UsageStatsRecordSchema)
    @blp.response(201, UsageStatsRecordedSchema)
    @blp.alt_response(200, schema=UsageStatsRecordedSchema,
                      description="That requestId was already reported for that key; nothing "
                                  "changed.")
    @blp.alt_response(403, **_FORBIDDEN)
    @blp.alt_response(404, schema=ErrorEnvelopeSchema, description="No key has that id.")
    @blp.alt_response(422, schema=ErrorEnvelopeSchema,
                      description="Refused: a bad field, a model outside the catalogue or an "
                                  "account named by a key holder, a cost below the catalogue "
                                  "price, a timestamp outside the retention.")
    def post(self, body):
        """Report the usage of a request (recordUsage)

        Stored as reported by its caller (`source` `client` for an API key, `admin` for an
        admin), beside the gateway's own records, never in their place: `requestId` makes a
        retry idempotent for the same key and caller only. An API key reports against itself,
        a model of the catalogue, no `accountId`; its `cost` defaults to, and may not be below,
        the catalogue price of its tokens. An admin may name an existing account. `timestamp`
        lies within the usage retention (RELAYGATE_USAGE_RETENTION_DAYS) and at most five
        minutes ahead.
        """
        caller = principal()
        body["api_key_id"] = own_key_scope(body.get("api_key_id"))
        if body["api_key_id"] is None:
            raise InvalidInput("apiKeyId is required.",
                               details={"apiKeyId": ["Missing data for required field."]})
        recorded = services().usage_reports.record(UsageRecord(**body),
                                                   by_admin=caller.is_admin)
        return {"recorded": recorded}, 201 if recorded else 200


@blp.route("/stats")
class Stats(MethodView):
    @admin_or_api_key_required
    @blp.arguments(UsageStatsQueryArgsSchema, location="query")
    @blp.response(200, UsageStatsSchema)
    @blp.alt_response(403, **_FORBIDDEN)
    def get(self, args):
        """Usage per hour, day or month (getUsageStats)

        Buckets follow `timezone`; empty ones appear with zeros. With `format=csv` the same rows
        download as CSV (one line per bucket, or per bucket and group with `groupBy`).
        """
        output = args.pop("format")
        args["api_key_id"] = own_key_scope(args.get("api_key_id"))
        data = services().usage.stats(StatsQuery(**args))
        return stats_csv(data, args.get("group_by")) if output == "csv" else data


@blp.route("/cost-analysis")
class CostAnalysis(MethodView):
    @admin_or_api_key_required
    @blp.arguments(CostAnalysisQueryArgsSchema, location="query")
    @blp.response(200, CostAnalysisSchema)
    @blp.alt_response(403, **_FORBIDDEN)
    def get(self, args):
        """Where the money went (getCostAnalysis)

        `costBreakdown` by day, model or account (percentages add up to 100), daily `trends` with
        the change against the day before, and the `top` models by cost.
        """
        args["api_key_id"] = own_key_scope(args.get("api_key_id"))
        return services().usage.cost_analysis(CostQuery(**args))


@blp.route("/cleanup")
class Cleanup(MethodView):
    @admin_required
    @blp.arguments(UsageStatsCleanupSchema)
    @blp.response(200, UsageStatsCleanupResultSchema)
    def post(self, body):
        """Delete raw usage events older than the retention (cleanupOldStats)

        In short batches; the hourly rollups stay, so reports over old ranges still answer.
        """
        return services().usage.cleanup(body.get("retention_days"))

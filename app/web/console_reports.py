"""The console's read-only pages: users, plans and models; the usage explorer; operations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, render_template, request

from app.api.csv_export import stats_csv
from app.api.deps import services
from app.api.schemas.usage_stats import UsageStatsQueryArgsSchema
from app.services.usage.query import GRANULARITIES, GROUP_COLUMNS, StatsQuery
from app.web.forms import load

EXPLORER_DEFAULT_DAYS = 7


def catalogue():
    return render_template("console/catalogue.html", view=services().catalogue_view.overview())


def _midnight(day: str, zone_name: str) -> str:
    """The start of a day in the chosen zone, as the stats query wants it (the day as given,
    at UTC midnight, when the zone or the day does not parse: the query then says why)."""
    try:
        zone = ZoneInfo(zone_name)
        return datetime.combine(date.fromisoformat(day), time(0), zone).isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return f"{day}T00:00:00+00:00"


def _explorer_args(args) -> dict:
    """The explorer's form (whole days in the chosen zone, the last one included) as the
    stats API's query."""
    zone = args.get("timezone") or "UTC"
    today = datetime.now(UTC).date()
    first = args.get("from") or (today - timedelta(days=EXPLORER_DEFAULT_DAYS - 1)).isoformat()
    last = args.get("to") or today.isoformat()
    try:
        after_last = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
    except ValueError:
        after_last = last
    form = {"startDate": _midnight(first, zone), "endDate": _midnight(after_last, zone),
            "granularity": args.get("granularity") or "day", "timezone": zone,
            "groupBy": args.get("groupBy", ""), "apiKeyId": args.get("apiKeyId", ""),
            "model": args.get("model", ""), "accountId": args.get("accountId", "")}
    return {"from": first, "to": last, "query": load(UsageStatsQueryArgsSchema(), form)}


def usage_explorer():
    chosen = _explorer_args(request.args)
    query = chosen["query"]
    output = query.pop("format")
    data = services().usage.stats(StatsQuery(**query))
    if output == "csv" or request.args.get("format") == "csv":
        return stats_csv(data, query.get("group_by"))
    return render_template("console/usage.html", data=data, query=query, args=request.args,
                           chosen=chosen, granularities=GRANULARITIES, groups=list(GROUP_COLUMNS))


def operations():
    return render_template("console/operations.html",
                           view=services().operations_view.overview())


def register(blp: Blueprint) -> None:
    blp.add_url_rule("/catalogue", view_func=catalogue, methods=["GET"])
    blp.add_url_rule("/usage", view_func=usage_explorer, methods=["GET"])
    blp.add_url_rule("/operations", view_func=operations, methods=["GET"])

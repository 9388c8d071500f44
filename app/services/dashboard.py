"""Dashboard: what the admin console shows at a glance, composed from the report services.

It reads nothing itself: usage comes from UsageService's rollup reports, names from the key
and account services, rates from monitoring. Every figure is over a period ending at the next
whole UTC hour, so the current hour's requests are in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.errors import DomainError
from app.services.usage_query import StatsQuery

PERIODS = {"24h": (timedelta(hours=24), "hour"), "7d": (timedelta(days=7), "day"),
           "30d": (timedelta(days=30), "day")}
# Monitoring keeps at most a week of request metrics.
MONITORING_RANGE = {"24h": "24h", "7d": "7d", "30d": "7d"}
TOP = 5


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime, str]:
    """[start, end) of a period ending at the next whole UTC hour, and its bucket unit."""
    span, unit = PERIODS[period]
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return end - span, end, unit


def ranked(stats: dict, member: str, top: int = TOP) -> list[dict]:
    """The groups of a grouped stats answer summed over its buckets, by cost then requests."""
    totals: dict[str, dict] = {}
    for bucket in stats["stats"]:
        for name, sums in bucket.get(member, {}).items():
            found = totals.setdefault(name, {"name": name, "requests": 0, "totalTokens": 0,
                                             "cost": Decimal(0)})
            found["requests"] += sums["requests"]
            found["totalTokens"] += sums["totalTokens"]
            found["cost"] += sums["cost"]
    order = sorted(totals.values(), key=lambda row: (-row["cost"], -row["requests"], row["name"]))
    return order[:top]


class Dashboard:
    def __init__(self, *, usage, keys, accounts, monitoring, clock):
        self.usage = usage
        self.keys = keys
        self.accounts = accounts
        self.monitoring = monitoring
        self.clock = clock

    def overview(self, period: str) -> dict:
        start, end, unit = period_bounds(period, self.clock())
        series = self.usage.stats(StatsQuery(start, end, granularity=unit))
        grouped = {group: self.usage.stats(StatsQuery(start, end, granularity="month",
                                                      group_by=group))
                   for group in ("model", "apikey", "account")}
        top_keys = ranked(grouped["apikey"], "apiKeys")
        for row in top_keys:
            row["label"] = self._key_name(row["name"])
        top_accounts = ranked(grouped["account"], "accounts")
        for row in top_accounts:
            row["label"] = self._account_name(row["name"])
        return {
            "period": period, "start": start, "end": end, "unit": unit,
            "series": series["stats"], "summary": series["summary"],
            "topModels": ranked(grouped["model"], "models"),
            "topKeys": top_keys, "topAccounts": top_accounts,
            "troubledAccounts": self.troubled_accounts(),
            "errors": self._errors(period),
        }

    def key_usage(self, key_id: str, period: str = "30d") -> dict:
        """One key's usage per bucket over a period, and what it spent today."""
        start, end, unit = period_bounds(period, self.clock())
        series = self.usage.stats(StatsQuery(start, end, granularity=unit, api_key_id=key_id))
        spend = self.usage.spend(key_id, self.usage.today())
        return {"key": self.keys.get(key_id), "period": period, "series": series["stats"],
                "summary": series["summary"], "costToday": spend["costToday"],
                "totalTokens": spend["totalTokens"]}

    def troubled_accounts(self) -> list[dict]:
        """Accounts that are rate-limited or failing, with when they come back."""
        found = []
        for status in ("rate_limited", "error"):
            found += self.accounts.list(status=status, limit=100)["accounts"]
        return found

    def _errors(self, period: str) -> dict | None:
        try:
            return self.monitoring.performance_metrics(MONITORING_RANGE[period])["errors"]
        except DomainError:
            return None  # the metrics store is down: the dashboard still shows usage

    def _key_name(self, key_id: str) -> str:
        try:
            return self.keys.get(key_id).name
        except DomainError:
            return key_id

    def _account_name(self, account_id: str) -> str:
        if account_id == "(none)":
            return account_id
        try:
            return self.accounts.get(account_id)["name"]
        except DomainError:
            return account_id

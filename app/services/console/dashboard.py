"""Dashboard: what the admin console shows at a glance, composed from the report services.

It reads nothing itself: usage comes from UsageService's rollup reports, names from the key
and account services, rates from monitoring. Every figure is over a period ending at the next
whole UTC hour, so the current hour's requests are in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from app.errors import DomainError
from app.services.usage.query import StatsQuery

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.services.accounts.service import AccountService
    from app.services.keys.service import KeyService
    from app.services.monitoring import MonitoringService
    from app.services.usage.service import UsageService

REPORT_PERIODS = {"24h": (timedelta(hours=24), "hour"), "7d": (timedelta(days=7), "day"),
                  "30d": (timedelta(days=30), "day")}
# Monitoring keeps at most a week of request metrics.
MONITORING_RANGE = {"24h": "24h", "7d": "7d", "30d": "7d"}
TOP = 5


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime, str]:
    """[start, end) of a period ending at the next whole UTC hour, and its bucket unit.

    A period counted in days starts at a UTC midnight, so its buckets are whole days and the
    reports read them from the daily rollups (the hourly ones only for today)."""
    span, unit = REPORT_PERIODS[period]
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - span
    if unit == "day":
        start = start.replace(hour=0)
    return start, end, unit


class Dashboard:
    def __init__(self, *, usage: UsageService, keys: KeyService, accounts: AccountService,
                 monitoring: MonitoringService, clock: Callable[[], datetime]) -> None:
        self.usage = usage
        self.keys = keys
        self.accounts = accounts
        self.monitoring = monitoring
        self.clock = clock

    def overview(self, period: str) -> dict:
        start, end, unit = period_bounds(period, self.clock())
        series = self.usage.stats(StatsQuery(start, end, granularity=unit))
        top = {group: self.usage.ranking(StatsQuery(start, end, granularity=unit,
                                                    group_by=group), TOP)
               for group in ("model", "apikey", "account")}
        return {
            "period": period, "start": start, "end": end, "unit": unit,
            "series": series["stats"], "summary": series["summary"],
            "top_models": top["model"],
            "top_keys": _labelled(top["apikey"], self.keys.names),
            "top_accounts": _labelled(top["account"], self.accounts.names),
            "troubled_accounts": self.troubled_accounts(),
            "errors": self._errors(period),
        }

    def key_usage(self, key_id: str, period: str = "30d") -> dict:
        """One key's usage per bucket over a period, and what it spent today."""
        start, end, unit = period_bounds(period, self.clock())
        series = self.usage.stats(StatsQuery(start, end, granularity=unit, api_key_id=key_id))
        spend = self.usage.spend(key_id, self.usage.today())
        return {"key": self.keys.get(key_id), "period": period, "series": series["stats"],
                "summary": series["summary"], "cost_today": spend["cost_today"],
                "total_tokens": spend["total_tokens"]}

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


def _labelled(rows: list[dict], names) -> list[dict]:
    """Each row with its key's or account's name as `label` (its id when it has none now)."""
    found = names([row["name"] for row in rows])
    return [{**row, "label": found.get(row["name"], row["name"])} for row in rows]

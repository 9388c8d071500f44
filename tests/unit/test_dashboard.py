"""The dashboard's periods and labels, on stand-in services."""

from datetime import UTC, datetime
from decimal import Decimal

from app.errors import Unavailable
from app.services.console.dashboard import Dashboard, period_bounds

NOW = datetime(2026, 12, 3, 9, 41, tzinfo=UTC)


def test_a_period_ends_at_the_next_whole_hour_so_the_current_hour_counts():
    start, end, unit = period_bounds("24h", NOW)
    assert (start, end, unit) == (datetime(2026, 12, 2, 10, tzinfo=UTC),
                                  datetime(2026, 12, 3, 10, tzinfo=UTC), "hour")


def test_a_period_in_days_starts_at_a_utc_midnight():
    start, end, unit = period_bounds("7d", NOW)
    assert (start, end, unit) == (datetime(2026, 11, 26, tzinfo=UTC),
                                  datetime(2026, 12, 3, 10, tzinfo=UTC), "day")
    assert period_bounds("30d", NOW)[0] == datetime(2026, 11, 3, tzinfo=UTC)


class Usage:
    def __init__(self):
        self.asked = []

    def stats(self, query):
        return {"stats": [], "summary": {"total_requests": 0}}

    def ranking(self, query, top):
        self.asked.append((query.group_by, query.granularity, top))
        return [{"name": name, "requests": 1, "total_tokens": 2, "cost": Decimal("0.5")}
                for name in {"model": ["m"], "apikey": ["k1", "gone"],
                             "account": ["a1", "(none)"]}[query.group_by]]


class Names:
    def __init__(self, names):
        self.names_known = names

    def names(self, ids):
        return {i: self.names_known[i] for i in ids if i in self.names_known}

    def list(self, *, status, limit):
        return {"accounts": [{"name": f"{status}-one"}] if status == "error" else []}


class Monitoring:
    def performance_metrics(self, time_range):
        raise Unavailable("metrics down")


def test_the_overview_names_keys_and_accounts_and_survives_a_metrics_outage():
    usage = Usage()
    dashboard = Dashboard(usage=usage, keys=Names({"k1": "alpha"}),
                          accounts=Names({"a1": "pool-1"}), monitoring=Monitoring(),
                          clock=lambda: NOW)
    report = dashboard.overview("30d")
    assert [row["label"] for row in report["top_keys"]] == ["alpha", "gone"]
    assert [row["label"] for row in report["top_accounts"]] == ["pool-1", "(none)"]
    assert report["troubled_accounts"] == [{"name": "error-one"}]
    assert report["errors"] is None
    assert usage.asked == [("model", "day", 5), ("apikey", "day", 5), ("account", "day", 5)]

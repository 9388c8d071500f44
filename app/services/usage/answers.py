"""Shaping sums from the rollups into the answers of getUsageStats and getCostAnalysis."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC
from decimal import Decimal

from app.db.repositories.usage_rollups import RollupRow, Totals
from app.services.usage.query import NO_ACCOUNT, Plan

GROUP_MEMBERS = {"model": "models", "account_id": "accounts", "api_key_id": "api_keys"}
_PER_TOKEN = Decimal(1).scaleb(-12)
_PERCENT = Decimal(1).scaleb(-2)


def totals_dict(totals: Totals) -> dict:
    """The sums by their field names (requests, input_tokens, ... cost)."""
    return totals._asdict()


def group_label(column: str, value: str | None) -> str:
    """A group's name in an answer (`value` is set on every row of a grouped query)."""
    if column == "account_id" and not value:
        return NO_ACCOUNT
    return value or ""


def _index(plan: Plan, row: RollupRow) -> int:
    """The plan bucket holding a row's bucket start (robust to how the database truncated)."""
    assert row.bucket is not None  # the rows of a query grouped by time
    return max(0, bisect_right(plan.buckets, row.bucket.astimezone(UTC)) - 1)


def stats(plan: Plan, rows: list[RollupRow], group: str | None) -> dict:
    per_bucket = [Totals() for _ in plan.buckets]
    per_group: list[dict[str, Totals]] = [{} for _ in plan.buckets]
    for row in rows:
        i = _index(plan, row)
        per_bucket[i] += row.totals
        if group is not None:
            label = group_label(group, row.group)
            per_group[i][label] = per_group[i].get(label, Totals()) + row.totals
    answer = []
    for i, start in enumerate(plan.buckets):
        item = {"date": start.astimezone(plan.tz), **totals_dict(per_bucket[i])}
        if group is not None:
            item[GROUP_MEMBERS[group]] = {label: totals_dict(per_group[i][label])
                                          for label in sorted(per_group[i])}
        answer.append(item)
    return {"stats": answer, "summary": summary(sum(per_bucket, Totals()))}


def summary(totals: Totals) -> dict:
    average = (totals.cost / totals.total_tokens).quantize(_PER_TOKEN) if totals.total_tokens \
        else Decimal(0).quantize(_PER_TOKEN)
    return {"total_requests": totals.requests, "total_tokens": totals.total_tokens,
            "total_cost": totals.cost, "average_cost_per_token": average,
            "total_input_tokens": totals.input_tokens,
            "total_output_tokens": totals.output_tokens,
            "total_cache_write_tokens": totals.cache_write_tokens,
            "total_cache_read_tokens": totals.cache_read_tokens}


def percentages(amounts: list[Decimal]) -> list[Decimal]:
    """Shares in percent with 2 places that add up to exactly 100 (largest remainder).

    All zero when the total is zero: there is nothing to share.
    """
    total = sum(amounts, Decimal(0))
    if total <= 0:
        return [Decimal(0).quantize(_PERCENT) for _ in amounts]
    exact = [amount * 10_000 / total for amount in amounts]
    hundredths = [int(value) for value in exact]
    short = 10_000 - sum(hundredths)
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - hundredths[i], reverse=True)
    for i in by_remainder[:short]:
        hundredths[i] += 1
    return [Decimal(value).scaleb(-2) for value in hundredths]


def cost_analysis(plan: Plan, *, group_by: str, top: int, days: list[RollupRow],
                  models: list[RollupRow], previous_cost: Decimal,
                  accounts: list[RollupRow]) -> dict:
    """Sums by day, by model, and (for groupBy=account) by account, shaped as the answer."""
    daily = [Totals().cost for _ in plan.buckets]
    for row in days:
        daily[_index(plan, row)] += row.totals.cost
    trends, before = [], previous_cost
    for start, cost in zip(plan.buckets, daily, strict=True):
        trends.append({"date": start.astimezone(plan.tz), "cost": cost, "change": cost - before,
                       "change_percent": ((cost - before) * 100 / before).quantize(_PERCENT)
                       if before else None})
        before = cost
    if group_by == "day":
        categories = [(start.astimezone(plan.tz).isoformat(), cost)
                      for start, cost in zip(plan.buckets, daily, strict=True)]
    else:
        rows = models if group_by == "model" else accounts
        column = "model" if group_by == "model" else "account_id"
        categories = _by_cost((group_label(column, row.group), row.totals.cost) for row in rows)
    shares = percentages([cost for _, cost in categories])
    ranked = sorted(models, key=lambda row: (-row.totals.cost, -row.totals.requests, row.group))
    return {
        "cost_breakdown": [{"category": name, "cost": cost, "percentage": share}
                          for (name, cost), share in zip(categories, shares, strict=True)],
        "trends": trends,
        "top_models": [{"model": row.group, "cost": row.totals.cost,
                       "requests": row.totals.requests} for row in ranked[:top]],
        "total_cost": sum(daily, Totals().cost),
    }


def _by_cost(pairs) -> list[tuple[str, Decimal]]:
    return sorted(pairs, key=lambda pair: (-pair[1], pair[0]))

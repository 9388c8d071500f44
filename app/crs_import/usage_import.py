"""The usage phase: each CRS key's aggregates become its baseline rows, then are verified.

Per key, in one transaction with its ledger row: the key's baseline rows of source `crs` are
replaced by the plan's entries (app/crs_import/baseline.py), and the key's running totals move by
the difference, so a rerun over a changed source neither loses nor double-counts anything.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from app import timebuckets
from app.crs_import.baseline import PLACES, KeyUsage, plan
from app.crs_import.crs_source import CrsSource
from app.crs_import.report import CountCheck, ImportReport, PhaseResult, TotalsCheck
from app.db.repositories.usage_rollups import Totals
from app.services.usage.query import MAX_RANGE, StatsQuery

if TYPE_CHECKING:
    from app.crs_import.importer import ImportService

SOURCE = "crs"
_COLUMNS = ("requests", "input_tokens", "output_tokens", "cache_write_tokens",
            "cache_read_tokens", "total_tokens")


def read_usage(source: CrsSource) -> dict[str, KeyUsage]:
    """Every key's buckets and cost strings, read in one pass over the store."""
    found: dict[str, KeyUsage] = {}
    for bucket in source.usage_buckets():
        found.setdefault(bucket.key_id, KeyUsage(bucket.key_id)).add_bucket(bucket)
    for cost in source.costs():
        found.setdefault(cost.key_id, KeyUsage(cost.key_id)).add_cost(cost)
    return found


def _state(usage: KeyUsage) -> list:
    """The read data in a stable, JSON-able order (for the ledger's checksum)."""
    nodes = sorted((level, label or "", model or "", list(counts), micro)
                   for (level, label), models in usage.nodes.items()
                   for model, (counts, micro) in models.items())
    costs = sorted((level, label or "", str(usd)) for (level, label), usd in usage.costs.items())
    return [nodes, costs]


def _rows(entries) -> list[dict]:
    return [{"model": e.model, "bucket": e.hour, "cost": e.cost,
             **dict(zip(_COLUMNS, e.counts, strict=True))} for e in entries]


class UsageImport:
    def __init__(self, importer: ImportService) -> None:
        self.importer = importer

    def run(self, source: CrsSource, result: PhaseResult) -> None:
        importer = self.importer
        keys = {key.id: key for key in source.api_keys()}
        usage = read_usage(source)
        orphans = sorted(set(usage) - set(keys))
        if orphans:
            result.notes.append(f"usage of {len(orphans)} key id(s) the source no longer has "
                                f"is not imported: {', '.join(orphans[:5])}"
                                + (" ..." if len(orphans) > 5 else ""))

        def one(key_id: str):
            target = importer.imported_as("key", key_id)
            outcome, notes = importer.record(
                "usage", key_id, importer.checksum([target, _state(usage[key_id])]),
                lambda uow, item: self._write(uow, item, keys[key_id], usage[key_id], target))
            if target and not importer.dry_run:
                usage_service = importer.usage
                usage_service.spend.invalidate(usage_service.cache, target,
                                               usage_service.today())
                usage_service.limit_spend.invalidate(usage_service.cache, target)
            return outcome, f"usage of key {key_id}", notes

        importer.phase("usage", sorted(set(usage) & set(keys)), result, one)

    def _write(self, uow, item, key, usage: KeyUsage, target: str | None):
        if target is None:
            return "skipped", None, ["its key was not imported (run the keys phase)"]
        entries, notes = plan(usage, created_at=key.created_at, now=self.importer.clock(),
                              total_cost=usage.costs.get(("alltime", None)))
        before = uow.usage_baselines.totals_for_key(SOURCE, target)
        uow.usage_baselines.replace_for_key(SOURCE, target, _rows(entries))
        after = sum((Totals._make((*e.counts, e.cost)) for e in entries), Totals())
        if after != before:
            uow.api_keys.add_usage(
                target, requests=after.requests - before.requests,
                input_tokens=after.input_tokens - before.input_tokens,
                output_tokens=after.output_tokens - before.output_tokens,
                cost=after.cost - before.cost,
                total_tokens=after.total_tokens - before.total_tokens,
                used_at=max((e.hour for e in entries), default=key.created_at
                            or self.importer.clock()))
        return ("created" if item is None else "updated"), target, notes


def _stats_totals(usage_service, key_id: str, first: datetime, last: datetime) -> Totals:
    """The key's totals as Relaygate's own stats service reports them, over [first, last]."""
    start = timebuckets.bucket_start(first, "month", UTC)
    end = last + timedelta(hours=1)
    total, step = Totals(), MAX_RANGE["month"] - timedelta(days=31)
    while start < end:
        stop = min(end, timebuckets.bucket_start(start + step, "month", UTC)) \
            if start + step < end else end
        summary = usage_service.stats(StatsQuery(start_date=start, end_date=stop,
                                                 granularity="month",
                                                 api_key_id=key_id))["summary"]
        total += Totals(requests=summary["total_requests"], total_tokens=summary["total_tokens"],
                        cost=summary["total_cost"])
        start = stop
    return total


def verify_totals(importer, source: CrsSource, report: ImportReport) -> None:
    """Per key: the source's all-time totals against what the stats service reads back over
    the span of the key's baseline (usage recorded after the import is not counted)."""
    keys = {key.id for key in source.api_keys()}
    usage = read_usage(source)
    with_usage = sorted(set(usage) & keys)
    imported = skipped = 0
    totals = source.key_totals(with_usage)
    for key_id in with_usage:
        with importer.uow() as uow:
            item = uow.crs_import_items.find("usage", key_id)
            target = item.target_id if item is not None else None
            first, last = uow.usage_baselines.span_for_key(SOURCE, target) if target \
                else (None, None)
        if item is not None and item.outcome == "skipped":
            skipped += 1
            continue
        imported += item is not None
        got = (_stats_totals(importer.usage, target, first, last)
               if target and first and last else Totals())
        want = totals[key_id]
        report.totals.append(TotalsCheck(
            key_id, (want.requests, want.all_tokens, want.cost_usd.quantize(PLACES)),
            (got.requests, got.total_tokens, Decimal(got.cost).quantize(PLACES))))
    report.counts.append(CountCheck("keys with usage", len(with_usage), imported, skipped))

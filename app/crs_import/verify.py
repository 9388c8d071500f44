"""The import's verification: counts per entity, and per-key totals read back through stats."""

from __future__ import annotations

from collections import Counter

from app.crs_import.crs_source import CrsSource
from app.crs_import.report import CountCheck, ImportReport
from app.crs_import.usage_import import verify_totals

# Ledger kind -> the repository holding what its records became.
_TARGETS = {"key": "api_keys", "account": "accounts", "admin": "admins"}


def _ledger(importer, kind: str, source_ids: set[str]) -> tuple[Counter, Counter]:
    """Of the records still in the source, per group (an account's type, else the kind): those
    imported whose row exists here, and those skipped."""
    imported, skipped = Counter(), Counter()
    with importer.uow() as uow:
        for item in uow.crs_import_items.list_kind(kind):
            if item.source_id not in source_ids:
                continue
            group = item.source_id.split(":", 1)[0] if kind == "account" else kind
            if item.outcome == "skipped":
                skipped[group] += 1
            elif getattr(uow, _TARGETS[kind]).get(item.target_id) is not None:
                imported[group] += 1
    return imported, skipped


def run(importer, source: CrsSource, phases: list[str], report: ImportReport) -> None:
    if "keys" in phases:
        keys = list(source.api_keys())
        imported, skipped = _ledger(importer, "key", {key.id for key in keys})
        report.counts.append(CountCheck("API keys", len(keys), imported["key"], skipped["key"]))
        report.counts.append(CountCheck("  of which deleted", sum(k.is_deleted for k in keys),
                                        _deleted_imported(importer, keys), 0))
    if "accounts" in phases:
        accounts = list(source.accounts())
        by_type = Counter(account.type for account in accounts)
        imported, skipped = _ledger(importer, "account",
                                    {f"{a.type}:{a.id}" for a in accounts})
        for kind in sorted(by_type):
            report.counts.append(CountCheck(f"accounts: {kind}", by_type[kind], imported[kind],
                                            skipped[kind]))
    if "admins" in phases:
        admin = source.admin_credentials()
        imported, skipped = _ledger(importer, "admin", {admin.username} if admin else set())
        report.counts.append(CountCheck("admins", int(admin is not None), imported["admin"],
                                        skipped["admin"]))
    if "usage" in phases:
        verify_totals(importer, source, report)


def _deleted_imported(importer, keys) -> int:
    deleted = {key.id for key in keys if key.is_deleted}
    with importer.uow() as uow:
        targets = [item.target_id for item in uow.crs_import_items.list_kind("key")
                   if item.source_id in deleted and item.target_id]
        return sum(1 for target in targets
                   if (row := uow.api_keys.get(target)) is not None and row.is_deleted)

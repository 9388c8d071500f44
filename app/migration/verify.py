"""The import's verification: counts per entity, and per-key totals read back through stats."""

from __future__ import annotations

from collections import Counter

from app.db.models import Account, Admin, ApiKey
from app.migration.crs_source import CrsSource
from app.migration.report import CountCheck, ImportReport
from app.migration.usage_import import verify_totals

_TARGETS = {"key": ApiKey, "account": Account, "admin": Admin}


def _ledger(importer, kind: str) -> tuple[Counter, Counter]:
    """Per group (the part of the source id before ':' for accounts): imported rows that
    exist here, and skipped records."""
    imported, skipped = Counter(), Counter()
    with importer.uow() as uow:
        for item in uow.crs_import_items.list_kind(kind):
            group = item.source_id.split(":", 1)[0] if kind == "account" else kind
            if item.outcome == "skipped":
                skipped[group] += 1
            elif uow.session.get(_TARGETS[kind], item.target_id) is not None:
                imported[group] += 1
    return imported, skipped


def run(importer, source: CrsSource, phases: list[str], report: ImportReport) -> None:
    if "keys" in phases:
        keys = list(source.api_keys())
        imported, skipped = _ledger(importer, "key")
        report.counts.append(CountCheck("API keys", len(keys), imported["key"], skipped["key"]))
        report.counts.append(CountCheck("  of which deleted", sum(k.is_deleted for k in keys),
                                        _deleted_imported(importer, keys), 0))
    if "accounts" in phases:
        by_type = Counter(account.type for account in source.accounts())
        imported, skipped = _ledger(importer, "account")
        for kind in sorted(by_type):
            report.counts.append(CountCheck(f"accounts: {kind}", by_type[kind], imported[kind],
                                            skipped[kind]))
    if "admins" in phases:
        admins = 1 if source.admin_credentials() is not None else 0
        imported, skipped = _ledger(importer, "admin")
        report.counts.append(CountCheck("admins", admins, imported["admin"], skipped["admin"]))
    if "usage" in phases:
        verify_totals(importer, source, report)


def _deleted_imported(importer, keys) -> int:
    deleted = {key.id for key in keys if key.is_deleted}
    with importer.uow() as uow:
        targets = [item.target_id for item in uow.crs_import_items.list_kind("key")
                   if item.source_id in deleted and item.target_id]
        return sum(1 for target in targets
                   if (row := uow.api_keys.get(target)) is not None and row.is_deleted)

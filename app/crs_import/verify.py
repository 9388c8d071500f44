"""The import's verification: counts per entity, each key's limits as enforcement reads them,
and per-key totals read back through stats."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from app.crs_import.bindings import bound_providers
from app.crs_import.crs_source import CrsApiKey, CrsSource
from app.crs_import.key_mapping import (
    activation_of,
    expected_clients,
    expected_denied_models,
    spend_columns,
)
from app.crs_import.report import ControlsCheck, CountCheck, ImportReport
from app.crs_import.usage_import import verify_totals
from app.services.keys.periods import DEFAULT_RESET_DAY, DEFAULT_RESET_HOUR

# Ledger kind -> the repository holding what its records became.
_TARGETS = {"key": "api_keys", "account": "accounts", "admin": "admins"}


def _ledger(importer, kind: str, source_ids: set[str]) -> tuple[Counter, Counter]:
    """Of the records still in the source, per group (an account's type, else the kind): those
    imported whose row exists here, and those skipped."""
    imported: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
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
        report.controls += _controls(importer, keys, bindings="groups" in phases)
        _compare_limits(importer, source, keys, report)
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


def _controls(importer, keys: list[CrsApiKey], *, bindings: bool) -> list[ControlsCheck]:
    """Each imported key's controls, the source's against what its row enforces."""
    checks = []
    with importer.uow() as uow:
        for key in keys:
            target = importer.imported_as("key", key.id)
            row = uow.api_keys.get(target) if target else None
            if row is None:
                continue
            source = {"deniedModels": expected_denied_models(key),
                      "allowedClients": expected_clients(key), "activation": activation_of(key)}
            ours = {"deniedModels": list(row.denied_models or []),
                    "allowedClients": list(row.allowed_clients or []),
                    "activation": ([row.activation_days, row.activation_unit]
                                   if row.activation_days else None)}
            if bindings:
                wanted = sorted(bound_providers(key))
                source["boundProviders"] = wanted
                ours["boundProviders"] = [p for p in wanted if _confined(uow, row, p)]
            checks.append(ControlsCheck(key.id, source, ours))
    return checks


def _confined(uow, row, provider: str) -> bool:
    """Is the key kept, for `provider`, to accounts it is bound to (or kept off it)?"""
    if row.permissions != "all" and provider not in row.permissions.split(","):
        return True
    for binding in row.binding_rows:
        target = (uow.accounts.get(binding.account_id) if binding.account_id
                  else uow.account_groups.get(binding.group_id))
        if target is not None and target.provider == provider:
            return True
    return False


def _windows(limits) -> list[tuple]:
    return sorted((int(limit["window"]), limit.get("requests"), limit.get("tokens"),
                   None if limit.get("cost") is None else Decimal(str(limit["cost"])))
                  for limit in limits or [])


def _money(value) -> Decimal | None:
    return None if not value else Decimal(str(value))


def _expected(key, offset_hours: float) -> dict:
    columns = spend_columns(key, offset_hours)
    weekly = columns["weekly_cost_limit"]
    return {"dailyCost": _money(columns["daily_cost_limit"]),
            "totalCost": _money(columns["total_cost_limit"]), "weeklyCost": _money(weekly),
            "weeklyReset": (columns["weekly_reset_day"] or DEFAULT_RESET_DAY,
                            columns["weekly_reset_hour"] or DEFAULT_RESET_HOUR) if weekly else None,
            "weeklyModels": columns["weekly_cost_models"], "timeZone": columns["time_zone"],
            "windows": _windows(columns["window_limits"])}


def _enforced(record: dict) -> dict:
    """What the limits read of an imported key: its validation record (KeyService.validate)."""
    costs = record["cost_limits"]
    return {"dailyCost": _money(record["rate_limits"]["daily"]),
            "totalCost": _money(costs["total"]), "weeklyCost": _money(costs["weekly"]),
            "weeklyReset": (costs["weekly_reset_day"] or DEFAULT_RESET_DAY,
                            costs["weekly_reset_hour"] or DEFAULT_RESET_HOUR)
            if costs["weekly"] else None,
            "weeklyModels": costs["weekly_models"], "timeZone": record["time_zone"],
            "windows": _windows(record["window_limits"])}


def _compare_limits(importer, source: CrsSource, keys, report: ImportReport) -> None:
    """Each live imported key's cost and window limits and time zone, as the limits read them,
    against what the source enforces; a difference is named in the report."""
    with importer.uow() as uow:
        targets = {item.source_id: item.target_id for item in uow.crs_import_items.list_kind("key")
                   if item.target_id and item.outcome != "skipped"}
        hashes = {key_id: row.hashed_key for key_id, target in targets.items()
                  if (row := uow.api_keys.get(target)) is not None and not row.is_deleted}
    checked = matched = 0
    for key in keys:
        if key.id not in hashes:
            continue
        record = importer.keys.validate.uncached(importer.keys, hashes[key.id])
        if record is None:
            continue
        checked += 1
        expected, found = _expected(key, source.offset_hours), _enforced(record)
        differing = sorted(name for name in expected if expected[name] != found[name])
        if differing:
            report.warnings.append(f"key {key.id}: limits differ from the source's in "
                                   f"{', '.join(differing)}")
        else:
            matched += 1
    report.counts.append(CountCheck("  limits as in the source", checked, matched, 0))

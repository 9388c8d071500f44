"""ImportService: moves a claude-relay-service (CRS) Redis store into Relaygate.

Every source record is written in its own transaction together with its row in the ledger
(`crs_import_items`: kind, source id, target id, checksum). A rerun compares checksums and
skips what is unchanged, so a second run changes nothing, and a run interrupted anywhere
resumes from the first record it had not committed. The encryption key is checked before
anything is written; the run ends with a verification against what Relaygate reads back.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from app.crs_import import verify
from app.crs_import.account_mapping import MappedAccount, map_account
from app.crs_import.bindings import GroupsImport
from app.crs_import.crs_source import CrsSource, check_encryption_key
from app.crs_import.key_mapping import MappedKey, map_key
from app.crs_import.progress import ProgressBar
from app.crs_import.report import PHASES, ImportReport, PhaseResult
from app.crs_import.usage_import import UsageImport
from app.crypto import SecretBox
from app.db.base import new_id
from app.db.models import Account, Admin, ApiKey, ApiKeyTag, CrsImportItem
from app.db.types import utcnow
from app.db.uow import UnitOfWorkFactory
from app.services.accounts import candidates as pool
from app.services.accounts.groups import AccountGroupService
from app.services.keys.legacy_hashes import CRS_SCHEME
from app.services.keys.service import KeyService
from app.services.usage.service import UsageService

# Part of every checksum: a change of the mapping re-imports what it maps.
MAPPING_VERSION = "2"
ID_LENGTH = 36


class ImportService:
    def __init__(self, *, uow: UnitOfWorkFactory, keys: KeyService, box: SecretBox,
                 usage: UsageService, groups: AccountGroupService, clock: Callable = utcnow,
                 progress: Callable = ProgressBar, pause_after: int | None = None) -> None:
        self.uow = uow
        self.keys = keys
        self.groups = groups
        self.box = box
        self.usage = usage
        self.clock = clock
        self.progress = progress
        # Tests only: stop (sleep) after this many written records, to be killed there.
        self.pause_after = pause_after
        self._written = 0
        self.dry_run = False
        # In a dry run nothing reaches the ledger: where records would go, for later phases.
        self.planned: dict[tuple[str, str], str | None] = {}

    def run(self, source: CrsSource, *, phases: Iterable[str] = PHASES,
            dry_run: bool = False) -> ImportReport:
        """Import the chosen phases; WrongEncryptionKey before anything is written."""
        phases = [p for p in PHASES if p in set(phases)]
        report = ImportReport(dry_run=dry_run)
        if check_encryption_key(source) == 0:
            report.warnings.append("the source holds no encrypted secret, so the encryption "
                                   "key could not be checked: imported cr_ keys work only if "
                                   "it is right")
        self.dry_run = dry_run
        if "keys" in phases and not dry_run:
            assert self.keys.legacy is not None  # bootstrap gives the key service its hashes
            self.keys.legacy.remember(source.encryption_key, CRS_SCHEME)
        steps = {"keys": self._keys, "accounts": self._accounts, "admins": self._admins,
                 "groups": GroupsImport(self).run, "usage": UsageImport(self).run}
        for name in phases:
            result = PhaseResult(name)
            steps[name](source, result)
            report.phases.append(result)
        if not dry_run:
            verify.run(self, source, phases, report)
        return report

    # The ledger: one record, one transaction.

    def record(self, kind: str, source_id: str, digest: str,
               write: Callable[[Any, CrsImportItem | None], tuple[str, str | None, list]],
               ) -> tuple[str, list[str]]:
        """Apply `write(uow, item) -> (outcome, target id, notes)` unless the ledger already has
        this checksum; commit it with its ledger row. Returns (outcome, notes)."""
        with self.uow() as uow:
            item = uow.crs_import_items.find(kind, source_id)
            if item is not None and item.checksum == digest:
                return "unchanged", list(item.notes or [])
            outcome, target_id, notes = write(uow, item)
            if item is None:
                item = uow.crs_import_items.add(CrsImportItem(kind=kind, source_id=source_id))
            item.target_id, item.checksum, item.notes = target_id, digest, notes
            item.outcome = "skipped" if outcome == "skipped" else "imported"
            item.imported_at = self.clock()
            if self.dry_run:
                self.planned[(kind, source_id)] = target_id
            else:
                uow.commit()
        self._after_write()
        return outcome, notes

    def _after_write(self) -> None:
        self._written += 1
        if self.pause_after is not None and self._written >= self.pause_after:
            time.sleep(3600)

    def phase(self, label: str, records: list, result: PhaseResult,
              one: Callable[[Any], tuple[str, str, list[str]]]) -> None:
        bar = self.progress(label, len(records))
        for record in records:
            outcome, name, notes = one(record)
            result.count(outcome, name, notes)
            bar.advance()
        bar.close()

    @staticmethod
    def checksum(value: Any) -> str:
        text = json.dumps([MAPPING_VERSION, value], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def imported_as(self, kind: str, source_id: str) -> str | None:
        """The id a source record was imported as (or would be, in a dry run)."""
        if (kind, source_id) in self.planned:
            return self.planned[(kind, source_id)]
        with self.uow() as uow:
            item = uow.crs_import_items.find(kind, source_id)
            return item.target_id if item is not None else None

    @staticmethod
    def target_id(repository, source_id: str) -> str:
        """The source's id where it fits and is free, else a new one."""
        if len(source_id) <= ID_LENGTH and repository.get(source_id) is None:
            return source_id
        return new_id()

    # Keys.

    def _keys(self, source: CrsSource, result: PhaseResult) -> None:
        def one(key):
            mapped = map_key(key, self.clock(), source.offset_hours)
            hashes: list[str] = []  # the key's hashes, forgotten by the cache after the commit

            def write(uow, item):
                if isinstance(mapped, str):
                    return "skipped", None, [mapped]
                return self._write_key(uow, item, key.id, mapped, hashes)

            outcome, notes = self.record("key", key.id, self.checksum(key.raw), write)
            if not self.dry_run:
                for hashed in hashes:
                    self.keys.validate.invalidate(self.keys.cache, hashed)
            return outcome, f"key {key.id} ({key.name})", notes

        self.phase("keys", list(source.api_keys()), result, one)

    def _write_key(self, uow, item, source_id: str, mapped: MappedKey,
                   hashes: list[str]):
        row = uow.api_keys.get(item.target_id) if item and item.target_id else None
        holder = uow.api_keys.get_by_hash(mapped.columns["hashed_key"])
        if holder is not None and holder is not row:
            return "skipped", None, [f"Relaygate key {holder.id} already has this hash"]
        outcome = "updated"
        if row is None:
            row = uow.api_keys.add(ApiKey(id=self.target_id(uow.api_keys, source_id),
                                          hash_scheme=CRS_SCHEME, tag_rows=[],
                                          binding_rows=[]))
            outcome = "created"
        hashes += [h for h in (row.hashed_key, mapped.columns["hashed_key"]) if h]
        for name, value in mapped.columns.items():
            setattr(row, name, value)
        row.tag_rows = [ApiKeyTag(tag=tag) for tag in mapped.tags]
        return outcome, row.id, mapped.notes

    # Accounts.

    def _accounts(self, source: CrsSource, result: PhaseResult) -> None:
        def one(account):
            mapped = map_account(account, self.clock())

            def write(uow, item):
                if isinstance(mapped, str):
                    return "skipped", None, [mapped]
                return self._write_account(uow, item, account.id, mapped)

            # The raw record holds the ciphertext, which changes whenever a secret does.
            outcome, notes = self.record("account", f"{account.type}:{account.id}",
                                         self.checksum(account.raw), write)
            return outcome, f"account {account.type} {account.id} ({account.name})", notes

        self.phase("accounts", list(source.accounts()), result, one)
        if not self.dry_run:
            pool.forget(self.keys.cache)

    def _write_account(self, uow, item, source_id: str, mapped: MappedAccount):
        row = uow.accounts.get(item.target_id) if item and item.target_id else None
        outcome = "updated"
        if row is None:
            row = uow.accounts.add(Account(id=self.target_id(uow.accounts, source_id)))
            outcome = "created"
        for name, value in mapped.columns.items():
            setattr(row, name, value)
        for name, plaintext in mapped.secrets.items():
            setattr(row, name, self.box.encrypt_optional(plaintext))
        return outcome, row.id, mapped.notes

    # Admins.

    def _admins(self, source: CrsSource, result: PhaseResult) -> None:
        admin = source.admin_credentials()
        found = [admin] if admin is not None else []
        if not found:
            result.notes.append("the source has no admin credentials: create an admin with "
                                "`flask --app wsgi create-admin`")

        def one(crs_admin):
            def write(uow, item):
                return self._write_admin(uow, item, crs_admin)

            digest = self.checksum([crs_admin.username, crs_admin.password_hash])
            outcome, notes = self.record("admin", crs_admin.username, digest, write)
            return outcome, f"admin {crs_admin.username}", notes

        self.phase("admins", found, result, one)

    def _write_admin(self, uow, item, crs_admin):
        if not crs_admin.password_hash:
            return "skipped", None, ["no password hash: create it with create-admin"]
        existing = uow.admins.get_by_username(crs_admin.username)
        if existing is not None and (item is None or item.target_id != existing.id):
            return "skipped", None, ["a Relaygate admin of that name exists and is kept"]
        if existing is None:
            existing = uow.admins.add(Admin(id=new_id(), username=crs_admin.username,
                                            created_at=crs_admin.created_at or self.clock()))
            outcome = "created"
        else:
            outcome = "updated"
        # bcrypt, verified at login and replaced by argon2id there.
        existing.password_hash = crs_admin.password_hash
        return outcome, existing.id, ["bcrypt password kept: it becomes argon2id at the first "
                                      "login"]

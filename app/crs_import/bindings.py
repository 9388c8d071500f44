"""The groups phase: CRS account groups, then every key's account bindings.

Runs after the keys and accounts phases (it maps their ledger ids):
- A group (`account_group:{id}`) becomes an account group of its platform's provider, its
  members the imported accounts among `account_group_members:{id}`; a group of a platform
  Relaygate does not relay is skipped. A name a Relaygate group already has gets the CRS id.
- A key's `*AccountId` bindings become its `accountBindings`: `group:<id>` a group, `api:`
  (Gemini API) and `responses:` (OpenAI Responses) name those account types, any other value an
  account of the field's type. The key is narrowed, never widened: for a provider whose
  bindings all point at nothing Relaygate has (a skipped account or group, Azure, Bedrock),
  the provider is taken from the key's permissions, and a key left with none is made inactive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.crs_import.crs_source import ACCOUNT_TYPES, CrsAccountGroup, CrsApiKey, CrsSource
from app.crs_import.key_mapping import map_key
from app.crs_import.report import PhaseResult
from app.db.models import AccountGroup, ApiKeyBinding
from app.vocabulary import PROVIDERS_SORTED as PROVIDERS

if TYPE_CHECKING:
    from app.crs_import.importer import ImportService

GROUP_PREFIX = "group:"
# A binding value's prefix -> the account type it names (else the field's own type).
_TYPED = {("gemini", "api:"): "gemini_api", ("openai", "responses:"): "openai_responses"}
# A binding field's own account type, where its name is not one (claudeAccountId: OAuth).
_FIELD_TYPES = {"claude": "claude_oauth"}
_BINDING_PROVIDERS = {"claude": "claude", "claude_console": "claude", "gemini": "gemini",
                      "openai": "openai", "azure_openai": "openai", "bedrock": "claude"}


def binding_target(kind: str, value: str) -> tuple[str, str]:
    """('group', CRS group id) or ('account', '<account type>:<id>') for one binding field."""
    if value.startswith(GROUP_PREFIX):
        return "group", value.removeprefix(GROUP_PREFIX)
    for (field_kind, prefix), account_type in _TYPED.items():
        if kind == field_kind and value.startswith(prefix):
            return "account", f"{account_type}:{value.removeprefix(prefix)}"
    return "account", f"{_FIELD_TYPES.get(kind, kind)}:{value}"


def bound_providers(key: CrsApiKey) -> set[str]:
    """The providers a CRS key is bound for (Relaygate's names)."""
    return {_BINDING_PROVIDERS[kind] for kind in key.account_bindings
            if kind in _BINDING_PROVIDERS}


class GroupsImport:
    def __init__(self, importer: ImportService) -> None:
        self.importer = importer

    def run(self, source: CrsSource, result: PhaseResult) -> None:
        importer = self.importer
        accounts = self._imported_accounts()
        importer.phase("groups", list(source.account_groups()), result,
                       lambda group: self._group(group, accounts))
        keys = [key for key in source.api_keys() if key.account_bindings]
        importer.phase("bindings", keys, result, self._bindings)

    def _imported_accounts(self) -> dict[str, str]:
        """CRS account id -> our account id, for every imported account (any type)."""
        importer, found = self.importer, {}
        with importer.uow() as uow:
            items = [(i.source_id, i.target_id) for i in uow.crs_import_items.list_kind("account")
                     if i.outcome != "skipped"]
        items += [(source_id, target) for (kind, source_id), target in importer.planned.items()
                  if kind == "account"]
        for source_id, target_id in items:
            if target_id:
                found[source_id.split(":", 1)[1]] = target_id
        return found

    def _group(self, group: CrsAccountGroup, accounts: dict[str, str]):
        importer = self.importer
        members = [accounts[m] for m in group.member_ids if m in accounts]
        missing = [m for m in group.member_ids if m not in accounts]

        def write(uow, item):
            if group.platform not in PROVIDERS:
                return "skipped", None, [f"platform {group.platform or '?'} is not relayed"]
            row = uow.account_groups.get(item.target_id) if item and item.target_id else None
            name = (group.name or f"CRS group {group.id[:8]}")[:100]
            holder = uow.account_groups.get_by_name(name)
            if holder is not None and holder is not row:
                name = f"{name[:60]} (CRS {group.id[:30]})"
            outcome = "updated"
            if row is None:
                row = uow.account_groups.add(AccountGroup(
                    id=importer.target_id(uow.account_groups, group.id), name=name,
                    provider=group.platform, created_at=importer.clock()))
                outcome = "created"
            row.name, row.provider = name, group.platform
            row.description = group.description or None
            row.updated_at = importer.clock()
            uow.flush()
            kept = [m for m in members
                    if (a := uow.accounts.get(m)) is not None and a.provider == group.platform]
            uow.account_groups.set_members(row.id, kept)
            notes = [f"member {m} was not imported: left out" for m in missing]
            return outcome, row.id, notes

        digest = importer.checksum([group.raw, group.member_ids, members])
        outcome, notes = importer.record("group", group.id, digest, write)
        if not importer.dry_run:
            importer.groups.members.invalidate(importer.keys.cache, importer.imported_as(
                "group", group.id))
        return outcome, f"group {group.id} ({group.name})", notes

    def _bindings(self, key: CrsApiKey):
        importer = self.importer
        resolved = {kind: self._resolve(*binding_target(kind, value))
                    for kind, value in sorted(key.account_bindings.items())}
        hashes: list[str] = []

        def write(uow, item):
            target = importer.imported_as("key", key.id)
            row = uow.api_keys.get(target) if target else None
            if row is None:
                return "skipped", None, ["the key was not imported"]
            if row.is_deleted:
                row.binding_rows = []
                return "skipped", row.id, ["the key is deleted: no bindings"]
            rows, bound, notes = [], set(), []
            for kind, (what, target_id) in resolved.items():
                provider = _BINDING_PROVIDERS.get(kind)
                if target_id is None or provider is None:
                    notes.append(f"binding {kind}={key.account_bindings[kind]} names nothing "
                                 "Relaygate has")
                    continue
                bound.add(provider)
                rows.append(ApiKeyBinding(account_id=target_id if what == "account" else None,
                                          group_id=target_id if what == "group" else None))
            row.binding_rows = rows
            narrowed = bound_providers(key) - bound
            mapped = map_key(key, importer.clock())
            if narrowed and not isinstance(mapped, str):
                # From what the key maps to, not the row: a binding that resolves on a later
                # run gives its provider back.
                row.permissions, row.is_active = _narrow(
                    mapped.columns["permissions"], mapped.columns["is_active"], narrowed, notes)
            hashes.append(row.hashed_key)
            return "updated", row.id, notes

        # The key's whole record is in the checksum: the keys phase rewrites its permissions
        # whenever it changes, and the narrowing must follow.
        digest = importer.checksum([key.raw, sorted(resolved.items())])
        outcome, notes = importer.record("binding", key.id, digest, write)
        if not importer.dry_run:
            for hashed in hashes:
                importer.keys.validate.invalidate(importer.keys.cache, hashed)
        return outcome, f"key {key.id} ({key.name}) bindings", notes

    def _resolve(self, what: str, source_id: str) -> tuple[str, str | None]:
        kind, ledger_id = ("group", source_id) if what == "group" else ("account", source_id)
        account_type = source_id.split(":", 1)[0] if what == "account" else None
        if account_type is not None and account_type not in ACCOUNT_TYPES:
            return what, None
        return what, self.importer.imported_as(kind, ledger_id)


def _narrow(permissions: str, active: bool, providers: set[str],
            notes: list[str]) -> tuple[str, bool]:
    left = [p for p in (PROVIDERS if permissions == "all" else permissions.split(","))
            if p not in providers]
    notes.append(f"bound for {', '.join(sorted(providers))} to nothing Relaygate has: "
                 "that provider is taken from the key's permissions")
    if not left:
        notes.append("no permission left: imported inactive")
        return permissions, False
    return ",".join(sorted(left)), active

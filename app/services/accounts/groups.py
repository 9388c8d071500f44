"""AccountGroupService: named sets of accounts of one provider, and which accounts a key may use.

A key's bindings (its `accountBindings`: accounts and groups) confine it, for each provider it
is bound for, to those accounts and the groups' members, failover included; for a provider it
is not bound for it is served from the shared pool, which never holds a `dedicated` account.
A group's members are cached (read-through, forgotten after every change to the group).
"""

from __future__ import annotations

import builtins

from app.cache import read_through
from app.db.models import AccountGroup
from app.errors import Conflict, DuplicateRecord, InvalidInput, RecordNotFound
from app.services.base import Service
from app.services.retry import db_retry
from app.vocabulary import PROVIDERS_SORTED as PROVIDERS


def _view(group: AccountGroup, members: list[str]) -> dict:
    return {"id": group.id, "name": group.name, "provider": group.provider,
            "description": group.description, "account_ids": members,
            "created_at": group.created_at, "updated_at": group.updated_at}


class AccountGroupService(Service):
    @db_retry
    def create(self, data: dict) -> dict:
        if data.get("provider") not in PROVIDERS:
            raise InvalidInput("Unknown provider.", details={"provider": ["Unknown provider."]})
        now = self.clock()
        group = AccountGroup(name=data["name"], provider=data["provider"],
                             description=data.get("description"), created_at=now,
                             updated_at=now)
        if data.get("id"):
            group.id = data["id"]
        members = list(dict.fromkeys(data.get("account_ids") or []))
        with self.uow() as uow:
            self._check_name_free(uow, group.name)
            if group.id is not None and uow.account_groups.get(group.id) is not None:
                raise DuplicateRecord("An account group with that id exists.")
            uow.account_groups.add(group)
            uow.flush()
            self._check_members(uow, group.provider, members)
            uow.account_groups.set_members(group.id, members)
            uow.commit()
        self.members.invalidate(self.cache, group.id)
        return _view(group, sorted(members))

    @db_retry
    def get(self, group_id: str) -> dict:
        with self.uow() as uow:
            group = uow.account_groups.get(group_id)
            if group is None:
                raise RecordNotFound("account group")
            return _view(group, uow.account_groups.members([group_id])[group_id])

    @db_retry
    def list(self, *, provider: str | None = None) -> list[dict]:
        with self.uow() as uow:
            groups = uow.account_groups.list_all(provider)
            members = uow.account_groups.members([group.id for group in groups])
        return [_view(group, members[group.id]) for group in groups]

    @db_retry
    def update(self, group_id: str, changes: dict) -> dict:
        with self.uow() as uow:
            group = uow.account_groups.get(group_id, for_update=True)
            if group is None:
                raise RecordNotFound("account group")
            if changes.get("name", group.name) != group.name:
                self._check_name_free(uow, changes["name"])
                group.name = changes["name"]
            if "description" in changes:
                group.description = changes["description"]
            if "account_ids" in changes:
                members = list(dict.fromkeys(changes["account_ids"]))
                self._check_members(uow, group.provider, members)
                uow.account_groups.set_members(group.id, members)
            group.updated_at = self.clock()
            uow.commit()
            found = _view(group, uow.account_groups.members([group.id])[group.id])
        self.members.invalidate(self.cache, group_id)
        return found

    @db_retry
    def delete(self, group_id: str) -> None:
        """Refused while a key is bound to the group: the key would fall back to the pool."""
        with self.uow() as uow:
            group = uow.account_groups.get(group_id)
            if group is None:
                raise RecordNotFound("account group")
            bound = uow.account_groups.keys_bound(group_id=group_id)
            if bound:
                raise Conflict(f"{bound} API key(s) are bound to this group; unbind them first.",
                               code="GROUP_IN_USE")
            uow.account_groups.delete(group)
            uow.commit()
        self.members.invalidate(self.cache, group_id)

    @read_through("account-group-members", key=lambda group_id: group_id,
                  cacheable=lambda value: True)
    @db_retry
    def members(self, group_id: str) -> builtins.list[str]:
        """The group's member account ids ([] for a group that is gone)."""
        with self.uow() as uow:
            return uow.account_groups.members([group_id])[group_id]

    def scope(self, key: dict, provider: str) -> frozenset[str] | None:
        """The accounts key record `key` may use for `provider`: its bound accounts and its
        bound groups' members there; None when it has no binding for the provider (the shared
        pool: every account that is not dedicated)."""
        bindings = [b for b in key.get("account_bindings") or () if b["provider"] == provider]
        if not bindings:
            return None
        allowed: set[str] = set()
        for binding in bindings:
            if binding.get("account_id"):
                allowed.add(binding["account_id"])
            else:
                allowed.update(self.members(binding["group_id"]))
        return frozenset(allowed)

    def _check_name_free(self, uow, name: str) -> None:
        if uow.account_groups.get_by_name(name) is not None:
            raise DuplicateRecord("An account group with that name exists.",
                                  details={"name": ["Taken."]})

    @staticmethod
    def _check_members(uow, provider: str, account_ids: builtins.list[str]) -> None:
        for account_id in account_ids:
            account = uow.accounts.get(account_id)
            if account is None:
                # details name the request's own members (wire text, see app/errors.py).
                raise InvalidInput("No account has that id.",
                                   details={"accountIds": [f"{account_id}: no such account."]})
            if account.provider != provider:
                raise InvalidInput(
                    "A group holds accounts of its own provider only.",
                    details={"accountIds": [f"{account_id} is a {account.provider} account, "
                                            f"the group is {provider}'s."]})

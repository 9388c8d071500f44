"""Account groups, their members, and the keys bound to accounts and groups."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from app.db.models import AccountGroup, AccountGroupMember, ApiKeyBinding
from app.db.repositories.base import Repository


class AccountGroupRepository(Repository[AccountGroup]):
    model = AccountGroup

    def get_by_name(self, name: str) -> AccountGroup | None:
        return self.session.scalar(select(AccountGroup).where(AccountGroup.name == name))

    def list_all(self, provider: str | None = None) -> list[AccountGroup]:
        query = select(AccountGroup).order_by(AccountGroup.name)
        if provider:
            query = query.where(AccountGroup.provider == provider)
        return list(self.session.scalars(query))

    def members(self, group_ids: list[str]) -> dict[str, list[str]]:
        """{group id: its member account ids, sorted} for `group_ids`."""
        found: dict[str, list[str]] = {group_id: [] for group_id in group_ids}
        rows = self.session.execute(
            select(AccountGroupMember.group_id, AccountGroupMember.account_id)
            .where(AccountGroupMember.group_id.in_(group_ids))
            .order_by(AccountGroupMember.account_id))
        for group_id, account_id in rows:
            found[group_id].append(account_id)
        return found

    def set_members(self, group_id: str, account_ids: list[str]) -> None:
        self.session.execute(delete(AccountGroupMember)
                             .where(AccountGroupMember.group_id == group_id))
        self.session.add_all(AccountGroupMember(group_id=group_id, account_id=account_id)
                             for account_id in account_ids)

    def keys_bound(self, *, account_id: str | None = None, group_id: str | None = None) -> int:
        """How many keys are bound to the account, or to the group."""
        column, value = ((ApiKeyBinding.account_id, account_id) if account_id is not None
                         else (ApiKeyBinding.group_id, group_id))
        return self.session.execute(
            select(func.count(func.distinct(ApiKeyBinding.api_key_id))).where(column == value)
        ).scalar_one()

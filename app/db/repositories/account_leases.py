"""Concurrency leases on accounts, kept in the database when Redis is absent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update

from app.db.models import AccountLease
from app.db.repositories.base import Repository


class AccountLeaseRepository(Repository[AccountLease]):
    model = AccountLease

    def drop_expired(self, account_id: str, now: datetime) -> int:
        result = self._execute(
            delete(AccountLease)
            .where(AccountLease.account_id == account_id, AccountLease.expires_at <= now)
        )
        return result.rowcount

    def count_live(self, account_id: str, now: datetime) -> int:
        return self.session.execute(
            select(func.count()).select_from(AccountLease)
            .where(AccountLease.account_id == account_id, AccountLease.expires_at > now)
        ).scalar_one()

    def remove(self, lease_id: str) -> int:
        result = self._execute(delete(AccountLease).where(AccountLease.id == lease_id))
        return result.rowcount

    def extend(self, lease_id: str, expires_at: datetime) -> int:
        return self._execute(
            update(AccountLease).where(AccountLease.id == lease_id).values(expires_at=expires_at)
        ).rowcount

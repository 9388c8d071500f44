"""Admins by id and username."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.models import Admin
from app.db.repositories.base import Repository


class AdminRepository(Repository[Admin]):
    model = Admin

    def get_by_username(self, username: str) -> Admin | None:
        return self.session.scalar(select(Admin).where(Admin.username == username))

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(Admin)).scalar_one()

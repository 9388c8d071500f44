"""UserService: the gateway's users, their plan and their credits."""

from __future__ import annotations

import math

from app.cache import read_through
from app.db.models import User
from app.errors import DuplicateRecord, InvalidInput, RecordNotFound
from app.services.base import Service
from app.services.retry import db_retry
from app.vocabulary import PLANS


class UserService(Service):
    @db_retry
    def create(self, *, email: str, name: str | None = None, plan: str = "free",
               credits: int = 0) -> User:
        email = email.strip().lower()
        self._check_plan(plan)
        now = self.clock()
        user = User(email=email, name=name, plan=plan, credits=credits, created_at=now,
                    updated_at=now)
        with self.uow() as uow:
            if uow.users.get_by_email(email) is not None:
                raise DuplicateRecord("A user with that email exists.",
                                      details={"email": ["Taken."]})
            uow.users.add(user)
            uow.commit()
        return user

    @db_retry
    def get(self, user_id: str) -> User:
        with self.uow() as uow:
            user = uow.users.get(user_id)
        if user is None:
            raise RecordNotFound("user")
        return user

    @db_retry
    def list(self, *, plan: str | None = None, email: str | None = None, limit: int = 20,
             offset: int = 0) -> dict:
        with self.uow() as uow:
            users, total = uow.users.list_page(
                plan=plan, email=email.strip().lower() if email else None, limit=limit,
                offset=offset)
        return {"users": users, "total": total, "page": offset // limit + 1,
                "total_pages": math.ceil(total / limit)}

    @db_retry
    def update(self, user_id: str, changes: dict) -> User:
        """Change the name or the plan; a plan change applies to the very next check."""
        if "plan" in changes:
            self._check_plan(changes["plan"])
        with self.uow() as uow:
            user = uow.users.get(user_id)
            if user is None:
                raise RecordNotFound("user")
            for name in ("name", "plan"):
                if name in changes:
                    setattr(user, name, changes[name])
            user.updated_at = self.clock()
            uow.commit()
        self.profile.invalidate(self.cache, user_id)
        return user

    @db_retry
    def grant_credits(self, user_id: str, amount: int) -> User:
        if amount < 1:
            raise InvalidInput("The amount must be at least 1.",
                               details={"amount": ["Must be at least 1."]})
        with self.uow() as uow:
            if uow.users.add_credits(user_id, amount) is None:
                raise RecordNotFound("user")
            uow.commit()
        self.profile.invalidate(self.cache, user_id)
        return self.get(user_id)

    @read_through("user", key=lambda user_id: user_id)
    @db_retry
    def profile(self, user_id: str) -> dict | None:
        """What quota checks need of a user (None if unknown); invalidated on every change."""
        with self.uow() as uow:
            user = uow.users.get(user_id)
            if user is None:
                return None
            return {"id": user.id, "plan": user.plan, "credits": user.credits}

    def forget(self, user_id: str) -> None:
        """Drop the cached profile after a change made elsewhere (credits spent on usage)."""
        self.profile.invalidate(self.cache, user_id)

    @staticmethod
    def _check_plan(plan: str) -> None:
        if plan not in PLANS:
            raise InvalidInput("Unknown plan.", details={"plan": [f"Must be one of: {PLANS}."]})

"""Users and plan limits; credits change in single UPDATE statements."""

from __future__ import annotations

from sqlalchemy import case, func, select, update

from app.db.models import PlanLimit, User
from app.db.repositories.base import Repository


class UserRepository(Repository[User]):
    model = User

    def get_by_email(self, email: str) -> User | None:
        return self.session.scalar(select(User).where(User.email == email))

    def list_page(self, *, plan: str | None, email: str | None, limit: int,
                  offset: int) -> tuple[list[User], int]:
        conditions = []
        if plan is not None:
            conditions.append(User.plan == plan)
        if email is not None:
            conditions.append(User.email == email)
        total = self.session.execute(
            select(func.count()).select_from(User).where(*conditions)).scalar_one()
        query = (select(User).where(*conditions).order_by(User.created_at.desc(), User.id)
                 .limit(limit).offset(offset))
        return list(self.session.scalars(query)), total

    def add_credits(self, user_id: str, amount: int) -> int | None:
        """The new balance, or None when no user has that id."""
        return self.session.scalar(
            update(User).where(User.id == user_id)
            .values(credits=User.credits + amount)
            .returning(User.credits)
            .execution_options(synchronize_session=False)
        )

    def take_credit(self, user_id: str) -> bool:
        """Take one credit if the balance has one."""
        taken = self.session.scalar(
            update(User).where(User.id == user_id, User.credits >= 1)
            .values(credits=User.credits - 1)
            .returning(User.credits)
            .execution_options(synchronize_session=False)
        )
        return taken is not None

    def spend_credits(self, user_id: str, units: int) -> int | None:
        """Spend up to `units` credits (never below zero); the new balance."""
        return self.session.scalar(
            update(User).where(User.id == user_id)
            .values(credits=case((User.credits < units, 0), else_=User.credits - units))
            .returning(User.credits)
            .execution_options(synchronize_session=False)
        )


class PlanLimitRepository(Repository[PlanLimit]):
    model = PlanLimit

    def list_all(self) -> list[PlanLimit]:
        query = select(PlanLimit).order_by(PlanLimit.plan, PlanLimit.model_type.desc())
        return list(self.session.scalars(query))

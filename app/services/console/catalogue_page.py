"""CatalogueView: the console's page of users, plans and models, from their services."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.services.catalogue.service import ModelService
    from app.services.plans import PlanService
    from app.services.users import UserService

USERS_SHOWN = 100


class CatalogueView:
    def __init__(self, *, users: UserService, plans: PlanService,
                 models: ModelService) -> None:
        self.users = users
        self.plans = plans
        self.models = models

    def overview(self) -> dict:
        """The plan table (plan x model tier), the catalogue with prices, the newest users."""
        tiers: dict[str, dict] = {}
        for row in self.plans.list():
            tiers.setdefault(row["plan"], {})[row["model_type"]] = row
        model_types = sorted({tier for plan in tiers.values() for tier in plan})
        return {"plans": tiers, "model_types": model_types,
                "models": sorted(self.models.list(), key=lambda model: model.id),
                "users": self.users.list(limit=USERS_SHOWN)}

"""PlanService: how many uses of each model type a plan allows, and per which period."""

from __future__ import annotations

from app.cache import read_through
from app.db.models import PlanLimit
from app.errors import InvalidInput, NotFound
from app.services.base import Service
from app.services.retry import db_retry
from app.vocabulary import MODEL_TYPES, PERIODS, PLANS


def _row(limit: PlanLimit) -> dict:
    return {"plan": limit.plan, "model_type": limit.model_type, "limit": limit.limit,
            "period": limit.period}


class PlanService(Service):
    @db_retry
    def list(self) -> list[dict]:
        with self.uow() as uow:
            return [_row(limit) for limit in uow.plan_limits.list_all()]

    @read_through("plans", key=lambda: "all")
    def limits(self) -> dict:
        """{plan: {model type: {limit, period}}} for every plan: one cached entry for all."""
        table: dict = {}
        for row in self.list():
            table.setdefault(row["plan"], {})[row["model_type"]] = {
                "limit": row["limit"], "period": row["period"]}
        return table

    @db_retry
    def set(self, plan: str, model_type: str, *, limit: int, period: str) -> dict:
        if plan not in PLANS or model_type not in MODEL_TYPES:
            raise NotFound("No such plan or model type.")
        if period not in PERIODS or limit < 0:
            raise InvalidInput("The limit must be >= 0 and the period 'day' or 'month'.")
        with self.uow() as uow:
            row = uow.plan_limits.get((plan, model_type))
            if row is None:
                row = uow.plan_limits.add(PlanLimit(plan=plan, model_type=model_type))
            row.limit, row.period, row.updated_at = limit, period, self.clock()
            uow.commit()
        self.limits.invalidate(self.cache)
        return _row(row)

"""KeyReport: what a key holder may see of their own key (the portal), and nothing else."""

from __future__ import annotations

from decimal import Decimal

from app.services.console.dashboard import period_bounds
from app.services.keys import permissions as perms
from app.services.usage.query import StatsQuery


def _limit(name: str, unit: str, limit, used) -> dict:
    remaining = None if limit is None else max(limit - used, type(limit)(0))
    return {"name": name, "unit": unit, "limit": limit, "used": used, "remaining": remaining}


class KeyReport:
    def __init__(self, *, keys, usage, models, quota, clock):
        self.keys = keys
        self.quota = quota
        self.usage = usage
        self.models = models
        self.clock = clock

    def for_key(self, key_id: str, period: str = "30d") -> dict:
        """The key's limits and what remains of each (its own, then its plan's quota per model
        tier), its usage per day and per model over `period`, and the catalogue models its
        permissions allow."""
        key = self.keys.get(key_id)
        spend = self.usage.spend(key_id, self.usage.today())
        start, end, unit = period_bounds(period, self.clock())
        series = self.usage.stats(StatsQuery(start, end, granularity=unit, api_key_id=key_id))
        by_model = self.usage.ranking(StatsQuery(start, end, granularity=unit,
                                                 api_key_id=key_id, group_by="model"), top=100)
        models = [{"id": model.id, "name": model.name, "provider": model.provider,
                   "inputPrice": model.input_price, "outputPrice": model.output_price}
                  for model in self.models.list(is_active=True)
                  if perms.allows(key.permissions, model.provider)]
        return {
            "key": {"id": key.id, "name": key.name, "isActive": key.is_active,
                    "expiresAt": key.expires_at, "permissions": perms.public(key.permissions)},
            "limits": [
                _limit("tokens", "tokens", key.token_limit, spend["totalTokens"]),
                _limit("dailyCost", "USD", key.daily_cost_limit,
                       Decimal(spend["costToday"])),
                {"name": "requestsPerMinute", "unit": "requests/min",
                 "limit": key.requests_per_minute},
                {"name": "concurrency", "unit": "requests", "limit": key.concurrency_limit},
                *({"name": f"plan:{row['plan']}:{row['modelType']}",
                   "unit": f"requests/{row['period']}", "limit": row["limit"],
                   "used": row["used"], "remaining": row["remaining"],
                   "resetsAt": row["resetsAt"]}
                  for row in self.quota.standing(key_id=key.id, user_id=key.user_id)),
            ],
            "period": period, "series": series["stats"], "summary": series["summary"],
            "models": by_model, "allowedModels": models,
        }

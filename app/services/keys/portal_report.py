"""KeyReport: what a key holder may see of their own key (the portal), and nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.services.console.dashboard import period_bounds
from app.services.keys import permissions as perms
from app.services.keys.service import limit_fields
from app.services.usage.query import StatsQuery

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from app.services.catalogue.service import ModelService
    from app.services.keys.limits import KeyLimits
    from app.services.keys.service import KeyService
    from app.services.keys.windows import KeyWindows
    from app.services.quota.service import QuotaService
    from app.services.usage.service import UsageService


class KeyView:
    """A key's row with its limits and what remains of each (GET /api/keys/{id}, /me)."""

    def __init__(self, key, limits: list[dict]):
        self._key = key
        self.limits = limits

    def __getattr__(self, name):
        return getattr(self._key, name)


class KeyReport:
    def __init__(self, *, keys: KeyService, usage: UsageService, models: ModelService,
                 quota: QuotaService, clock: Callable[[], datetime], key_limits: KeyLimits,
                 key_windows: KeyWindows) -> None:
        self.keys = keys
        self.quota = quota
        self.usage = usage
        self.models = models
        self.clock = clock
        self.key_limits = key_limits
        self.key_windows = key_windows

    def view(self, key_id: str) -> KeyView:
        key = self.keys.get(key_id)
        return KeyView(key, self.own_limits(key))

    def own_limits(self, key) -> list[dict]:
        """The key's own limits (spend, windows, rates), each with what is used and remains."""
        record = {"id": key.id, "token_limit": key.token_limit,
                  "rate_limits": {"daily": key.daily_cost_limit}, **limit_fields(key)}
        return [*self.key_limits.standing(record),
                *self.key_windows.standing(key.id, record["window_limits"]),
                {"name": "requestsPerMinute", "unit": "requests/min",
                 "limit": key.requests_per_minute},
                {"name": "concurrency", "unit": "requests", "limit": key.concurrency_limit}]

    def for_key(self, key_id: str, period: str = "30d") -> dict:
        """The key's limits and what remains of each (its own, then its plan's quota per model
        tier), its usage per day and per model over `period`, and the catalogue models its
        permissions and model lists allow."""
        key = self.keys.get(key_id)
        start, end, unit = period_bounds(period, self.clock())
        series = self.usage.stats(StatsQuery(start, end, granularity=unit, api_key_id=key_id))
        by_model = self.usage.ranking(StatsQuery(start, end, granularity=unit,
                                                 api_key_id=key_id, group_by="model"), top=100)
        rules = {"allowed_providers": key.permissions, "allowed_models": key.allowed_models,
                 "denied_models": key.denied_models}
        models = [{"id": model.id, "name": model.name, "provider": model.provider,
                   "input_price": model.input_price, "output_price": model.output_price}
                  for model in self.models.list(is_active=True)
                  if perms.may_use_model(rules, {"id": model.id, "name": model.name,
                                                 "provider": model.provider,
                                                 "upstream_model": model.upstream_model,
                                                 "aliases": model.aliases})]
        return {
            "key": {"id": key.id, "name": key.name, "is_active": key.is_active,
                    "expires_at": key.expires_at, "permissions": perms.public(key.permissions)},
            "limits": [
                *self.own_limits(key),
                *({"name": f"plan:{row.plan}:{row.model_type}",
                   "unit": f"requests/{row.period}", "limit": row.limit,
                   "used": row.used, "remaining": row.remaining, "resets_at": row.resets_at}
                  for row in self.quota.standing(key_id=key.id, user_id=key.user_id)),
            ],
            "period": period, "series": series["stats"], "summary": series["summary"],
            "models": by_model, "allowed_models": models,
        }

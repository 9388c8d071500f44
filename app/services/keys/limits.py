"""KeyLimits: an API key's own limits, checked before a request goes upstream.

- `permissions`: the model's provider must be allowed, else 403.
- `allowedModels` / `deniedModels` (permissions.py) and `allowedClients` (clients.py): 403.
- `tokenLimit`, `totalCostLimit`, `weeklyCostLimit` and `dailyCostLimit`: 429 once the recorded
  usage has reached them (all-time tokens and cost; cost since the week's reset day and hour, on
  the models matching `weeklyCostModels`, only for requests to those models; cost since
  midnight). Days and weeks are the key's own time zone's, else the quota time zone's
  (keys/periods.py). The database is the record: the sums are cached per key and the cache is
  dropped by every stored use, so a restart of the app or of Redis never forgets spending.
- `windowLimits`: see key_windows.py (held when the request goes upstream, chat/service.py).
- `requestsPerMinute`: a sliding window of 60 s, 429 with Retry-After.
- `concurrencyLimit`: requests in flight, 429; a slot held by a dead worker frees itself.
A limit of 0 or none means unlimited, as in the source of docs/design/data-access-layer.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal

from app.errors import Forbidden, LimitExceeded
from app.services.keys import clients
from app.services.keys import permissions as perms
from app.services.keys.periods import day_bounds, key_zone, model_matches, week_bounds
from app.services.slots import Refusal, Slot, SlotClaim, SlotLimiter
from app.services.usage.service import UsageService

WINDOW_SECONDS = 60


@dataclass
class Admission:
    """What a request holds while it runs; `release()` when it ends.

    `claim`, when set, holds the slots still to take: the quota hold carries it into its own
    script call (QuotaService.hold), and `claimed()` then makes them the admission's (taking
    them now if the hold could not)."""

    limiter: SlotLimiter
    slots: list[Slot] = field(default_factory=list)
    claim: SlotClaim | None = None

    def claimed(self) -> None:
        """The slots of the claim are held (LimitExceeded when a bucket is full)."""
        claim, self.claim = self.claim, None
        if claim is not None:
            self.slots.extend(self.limiter.take_claim(claim))

    def release(self, *, refused: bool = False) -> None:
        """End the request: its concurrency slot frees; a refused request frees every slot."""
        claim, self.claim = self.claim, None
        if claim is not None and claim.slots:  # taken by a hold, never made the admission's
            self.slots.extend(claim.slots)
            refused = True
        held, self.slots = self.slots, []
        for slot in held:
            if refused or slot.bucket.startswith("concurrency:"):
                self.limiter.release(slot)


def _seconds_until(end: datetime, now: datetime) -> float:
    return max((end - now).total_seconds(), 1.0)


def _limit(name: str, unit: str, limit, used, resets_at=None) -> dict:
    remaining = None if limit is None else max(limit - used, type(limit)(0))
    return {"name": name, "unit": unit, "limit": limit, "used": used, "remaining": remaining,
            "resets_at": resets_at}


class KeyLimits:
    def __init__(self, *, slots: SlotLimiter, usage: UsageService, lease_seconds: int) -> None:
        self.slots = slots
        self.usage = usage
        self.lease_seconds = lease_seconds

    def zone(self, key: dict) -> tzinfo:
        return key_zone(key["time_zone"]) if key.get("time_zone") else self.usage.zone

    def periods(self, key: dict, now: datetime) -> tuple[dict, datetime, datetime]:
        """What the key's spend is counted over now, and when its day and its week end."""
        costs, zone = key.get("cost_limits") or {}, self.zone(key)
        day, day_end = day_bounds(now, zone)
        week, week_end = week_bounds(now, zone, costs.get("weekly_reset_day"),
                                     costs.get("weekly_reset_hour"))
        periods = {"day": day.isoformat(), "week": week.isoformat(),
                   "models": costs.get("weekly_models")}
        return periods, day_end, week_end

    def spend(self, key: dict, periods: dict, *, fresh: bool = False) -> dict:
        usage = self.usage
        if fresh:
            return usage.limit_spend.uncached(usage, key["id"], periods)
        found = usage.limit_spend(key["id"], periods)
        if found["periods"] != periods:  # cached for a day or week that has ended
            usage.limit_spend.invalidate(usage.cache, key["id"])
            found = usage.limit_spend(key["id"], periods)
        return found

    def standing(self, key: dict) -> list[dict]:
        """Each of the key's own spend limits, what is used and what remains (the key views)."""
        costs = key.get("cost_limits") or {}
        periods, day_end, week_end = self.periods(key, self.usage.clock())
        spend = self.spend(key, periods)
        return [
            _limit("tokens", "tokens", key.get("token_limit"), spend["total_tokens"]),
            _limit("totalCost", "USD", costs.get("total"), Decimal(spend["total_cost"])),
            {**_limit("weeklyCost", "USD", costs.get("weekly"), Decimal(spend["cost_week"]),
                      week_end), "models": costs.get("weekly_models")},
            _limit("dailyCost", "USD", key["rate_limits"].get("daily"),
                   Decimal(spend["cost_today"]), day_end),
        ]

    def check_provider(self, key: dict, provider: str) -> None:
        if not perms.allows(key["allowed_providers"], provider):
            raise Forbidden(f"This API key may not use {provider} models.",
                            code="PROVIDER_NOT_ALLOWED")

    def check_use(self, key: dict, model: dict,
                  client: clients.ClientRequest | None = None) -> None:
        """May the key use this catalogue entry, from this client (None: not checked)? Every
        route that relays, counts or lists for a key asks here."""
        self.check_provider(key, model["provider"])
        if not perms.models_allow(key.get("allowed_models") or [],
                                  key.get("denied_models") or [], model):
            raise Forbidden(f"This API key may not use the model {model['id']!r}.",
                            code="MODEL_NOT_ALLOWED")
        if client is not None and not clients.admits(key.get("allowed_clients") or [], client):
            raise Forbidden("This API key is restricted to other clients.",
                            code="CLIENT_NOT_ALLOWED")

    def admit(self, key: dict, provider: str, *, fresh: bool = False,
              model: str | None = None, with_hold: bool = False) -> Admission:
        """Take the key's slots for one request to `model`; `fresh` reads spend from the
        database. `with_hold`: leave them as the admission's claim, for the quota hold to take
        in its own script call (then call `Admission.claimed()`), where Redis allows."""
        self.check_provider(key, provider)
        self._check_spend(key, fresh, model)
        admission = Admission(self.slots)
        limits = key["rate_limits"]
        wanted: list[tuple[str, str, int, float]] = []
        refusals: list[tuple[str, str]] = []
        if limits.get("requests"):
            wanted.append((f"rpm:{key['id']}", key["id"], limits["requests"], WINDOW_SECONDS))
            refusals.append(("RATE_LIMIT_EXCEEDED",
                             "The key's requests-per-minute limit is reached."))
        if limits.get("concurrency"):
            wanted.append((f"concurrency:{key['id']}", key["id"], limits["concurrency"],
                           self.lease_seconds))
            refusals.append(("CONCURRENCY_LIMIT_EXCEEDED",
                             "The key has as many requests in flight as it may."))
        if not wanted:
            return admission

        def refuse(index: int, refusal: Refusal) -> LimitExceeded:
            code, message = refusals[index]
            return LimitExceeded(message, code=code, retry_after=refusal.retry_after)

        admission.claim = self.slots.claim(wanted, refuse) if with_hold else None
        if admission.claim is None:
            # Both slots in one Redis call, all or none; a refused request holds neither.
            taken = self.slots.acquire_all(wanted)
            if isinstance(taken, tuple):
                raise refuse(*taken)
            admission.slots.extend(taken)
        return admission

    def _check_spend(self, key: dict, fresh: bool, model: str | None) -> None:
        costs = key.get("cost_limits") or {}
        token_limit, daily = key.get("token_limit"), key["rate_limits"].get("daily")
        total, weekly = costs.get("total"), costs.get("weekly")
        pattern = costs.get("weekly_models")
        if weekly and pattern and (model is None or not model_matches(model, pattern)):
            weekly = None  # the weekly limit applies to its models only
        if not (token_limit or daily or total or weekly):
            return
        now = self.usage.clock()
        periods, day_end, week_end = self.periods(key, now)
        spend = self.spend(key, periods, fresh=fresh)
        if token_limit and spend["total_tokens"] >= token_limit:
            raise LimitExceeded("The key's token limit is reached.", code="TOKEN_LIMIT_EXCEEDED")
        if total and spend["total_cost"] >= Decimal(total):
            raise LimitExceeded("The key's total cost limit is reached.",
                                code="TOTAL_COST_LIMIT_EXCEEDED",
                                details={"used": spend["total_cost"], "limit": total})
        if weekly and spend["cost_week"] >= Decimal(weekly):
            raise LimitExceeded("The key's weekly cost limit is reached.",
                                code="WEEKLY_COST_LIMIT_EXCEEDED",
                                retry_after=_seconds_until(week_end, now),
                                details={"used": spend["cost_week"], "limit": weekly,
                                         "resetsAt": week_end})
        if daily and spend["cost_today"] >= Decimal(daily):
            raise LimitExceeded("The key's daily cost limit is reached.",
                                code="DAILY_COST_LIMIT_EXCEEDED",
                                retry_after=_seconds_until(day_end, now),
                                details={"used": spend["cost_today"], "limit": daily,
                                         "resetsAt": day_end})

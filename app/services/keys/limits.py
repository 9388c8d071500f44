"""KeyLimits: an API key's own limits, checked before a request goes upstream.

- `permissions`: the model's provider must be allowed, else 403.
- `tokenLimit` and `dailyCostLimit`: 429 once the recorded usage has reached them (all-time tokens;
  cost since midnight in the quota time zone).
- `requestsPerMinute`: a sliding window of 60 s, 429 with Retry-After.
- `concurrencyLimit`: requests in flight, 429; a slot held by a dead worker frees itself.
A limit of 0 or none means unlimited, as in the source of docs/design/data-access-layer.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import Forbidden, LimitExceeded
from app.services.keys import permissions as perms
from app.services.slots import Refusal, Slot, SlotLimiter
from app.services.usage.service import UsageService

WINDOW_SECONDS = 60


@dataclass
class Admission:
    """What a request holds while it runs; `release()` when it ends."""

    limiter: SlotLimiter | None = None
    slots: list[Slot] = field(default_factory=list)

    def release(self, *, refused: bool = False) -> None:
        """End the request: its concurrency slot frees; a refused request frees every slot."""
        held, self.slots = self.slots, []
        for slot in held:
            if refused or slot.bucket.startswith("concurrency:"):
                self.limiter.release(slot)


class KeyLimits:
    def __init__(self, *, slots: SlotLimiter, usage: UsageService, lease_seconds: int):
        self.slots = slots
        self.usage = usage
        self.lease_seconds = lease_seconds

    def check_provider(self, key: dict, provider: str) -> None:
        if not perms.allows(key["allowedProviders"], provider):
            raise Forbidden(f"This API key may not use {provider} models.",
                            code="PROVIDER_NOT_ALLOWED")

    def admit(self, key: dict, provider: str, *, fresh: bool = False) -> Admission:
        """Take the key's slots for one request; `fresh` reads spend from the database."""
        self.check_provider(key, provider)
        self._check_spend(key, fresh)
        admission = Admission(self.slots)
        limits = key["rateLimits"]
        try:
            if limits.get("requests"):
                self._take(admission, f"rpm:{key['id']}", key["id"], limits["requests"],
                           WINDOW_SECONDS, "RATE_LIMIT_EXCEEDED",
                           "The key's requests-per-minute limit is reached.")
            if limits.get("concurrency"):
                self._take(admission, f"concurrency:{key['id']}", key["id"],
                           limits["concurrency"], self.lease_seconds,
                           "CONCURRENCY_LIMIT_EXCEEDED",
                           "The key has as many requests in flight as it may.")
        except LimitExceeded:
            admission.release(refused=True)
            raise
        return admission

    def _take(self, admission, bucket, owner, limit, ttl, code, message) -> None:
        taken = self.slots.acquire(bucket, owner, limit, ttl)
        if isinstance(taken, Refusal):
            raise LimitExceeded(message, code=code, retry_after=taken.retry_after)
        admission.slots.append(taken)

    def _check_spend(self, key: dict, fresh: bool) -> None:
        token_limit, cost_limit = key.get("tokenLimit"), key["rateLimits"].get("daily")
        if not token_limit and not cost_limit:
            return
        day = self.usage.today()
        spend = (self.usage.spend.uncached(self.usage, key["id"], day) if fresh
                 else self.usage.spend(key["id"], day))
        if token_limit and spend["totalTokens"] >= token_limit:
            raise LimitExceeded("The key's token limit is reached.", code="TOKEN_LIMIT_EXCEEDED")
        if cost_limit and spend["costToday"] >= cost_limit:
            raise LimitExceeded("The key's daily cost limit is reached.",
                                code="DAILY_COST_LIMIT_EXCEEDED")

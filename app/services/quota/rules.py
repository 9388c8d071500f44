"""The quota rules as pure functions: whose usage counts, and may it proceed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.errors import Forbidden, InvalidInput, LimitExceeded

# Plans whose users may buy credits: one credit pays for one use past the limit.
CREDIT_PLANS = frozenset({"premium"})
UPGRADE_ACTIONS = {"free": "upgrade_to_premium", "premium": "buy_credits"}
LIMIT_CODES = {"premium": "PREMIUM_LIMIT_EXCEEDED", "basic": "BASIC_LIMIT_EXCEEDED"}
# A key without an owner is metered as its own subject, on this plan.
OWNERLESS_KEY_PLAN = "free"


@dataclass(frozen=True)
class Subject:
    """Whose usage is counted: 'user:<id>', or 'key:<id>' for a key without an owner."""

    id: str
    plan: str
    credits: int = 0
    user_id: str | None = None

    @classmethod
    def of_user(cls, profile: dict) -> Subject:
        return cls(f"user:{profile['id']}", profile["plan"], profile["credits"], profile["id"])

    @classmethod
    def of_key(cls, key_id: str) -> Subject:
        return cls(f"key:{key_id}", OWNERLESS_KEY_PLAN)

    @property
    def credit_payer(self) -> str | None:
        """The user whose credits pay for uses past the limit; None when credits do not."""
        return self.user_id if self.plan in CREDIT_PLANS else None

    @property
    def spends_credits(self) -> bool:
        return self.credit_payer is not None


@dataclass(frozen=True)
class Allowance:
    """What the subject's plan allows for one model type in the current period."""

    model_type: str
    limit: int
    period: str
    start: datetime
    end: datetime


def usage_owner(principal, acting_for: str | None) -> str | None:
    """The user id a caller's usage counts against; None for a key that has no owner.

    Admins act for a user named with ?userId=; others may name only themselves.
    """
    if principal.is_admin:
        if not acting_for:
            raise InvalidInput("An admin must name the user with ?userId=.",
                               details={"userId": ["Required when an admin calls."]})
        return acting_for
    own = principal.id if principal.kind == "user" else principal.data.get("user_id")
    if acting_for and acting_for != own:
        raise Forbidden("Only admins may act for another user.", code="FORBIDDEN")
    return own


@dataclass(frozen=True)
class Usage:
    """What a check counted: `using_credits` and `credits` are set only when credits pay."""

    used: int
    limit: int
    model_type: str
    using_credits: bool | None = None
    credits: int | None = None


@dataclass(frozen=True)
class Verdict:
    """Section 3.1's check answer (UsageCheckSchema names it on the wire)."""

    can_proceed: bool
    usage: Usage


def verdict(subject: Subject, allowance: Allowance, used: int, now: datetime) -> Verdict:
    """Section 3.1's check answer; LimitExceeded when the subject may not proceed."""
    if used < allowance.limit:
        return Verdict(True, Usage(used, allowance.limit, allowance.model_type))
    if subject.spends_credits and subject.credits > 0:
        return Verdict(True, Usage(used, allowance.limit, allowance.model_type,
                                   using_credits=True, credits=subject.credits))
    raise refusal(subject, allowance, used, now)


def refusal(subject: Subject, allowance: Allowance, used: int, now: datetime) -> LimitExceeded:
    kind = allowance.model_type
    return LimitExceeded(
        f"{kind.capitalize()} model usage limit reached: {used} of {allowance.limit} "
        f"per {allowance.period}.",
        code=LIMIT_CODES[kind],
        retry_after=max(0.0, (allowance.end - now).total_seconds()),
        details={"used": used, "limit": allowance.limit, "modelType": kind,
                 "resetsAt": allowance.end},
        userPlan=subject.plan,
        upgradeAction=UPGRADE_ACTIONS[subject.plan],
    )


def units_past_limit(used_after: int, units: int, limit: int) -> int:
    """How many of the `units` just added (bringing the count to `used_after`) lie past `limit`."""
    return max(0, min(units, used_after - limit))

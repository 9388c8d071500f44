"""QuotaGate: the usage routes' entry; it authenticates the caller and asks QuotaService.

A warm check costs one Redis call and no SQL: a Lua script (app/cache/scripts/quota_probe.lua)
reads the caller's cached key or session record, the user's cached profile, the model's cached
tier, the cached plan limits and the mirrored counter. Python then applies the same rules as the
slow path to those values (expiry, activity, who may act for whom). Any miss sends that piece,
or the whole check, down the ordinary path, which fills the cache for the next call; so does a
refusal, because before refusing QuotaService gives back expired reservations.
"""

from __future__ import annotations

from app.cache.counters import PLACEHOLDER
from app.services.auth import AuthService, Credential
from app.services.quota.reservations import Settled
from app.services.quota.rules import Subject, Verdict, usage_owner
from app.services.quota.service import QuotaService, Updated


class QuotaGate:
    def __init__(self, *, auth: AuthService, quota: QuotaService) -> None:
        self.auth = auth
        self.quota = quota

    def subject(self, credential: Credential, acting_for: str | None = None) -> Subject:
        return self.quota.subject_for(self.auth.principal(credential), acting_for)

    def check(self, credential: Credential, model: str, *,
              user_id: str | None = None) -> Verdict:
        """GET /api/usage/check: may the caller (or the user an admin names) use `model` now?"""
        warm = self._warm_state(credential, model, user_id)
        if warm is None:
            return self.quota.verdict_for(self.subject(credential, user_id), model)
        return self.quota.decide(*warm)

    def update(self, credential: Credential, model: str, *, user_id: str | None = None,
               increment: int = 1, idempotency_key: str | None = None) -> Updated:
        return self.quota.update(self.subject(credential, user_id), model, increment=increment,
                                 idempotency_key=idempotency_key)

    def reserve(self, credential: Credential, model: str, *, user_id: str | None = None):
        return self.quota.reserve(self.subject(credential, user_id), model)

    def commit(self, credential: Credential, reservation_id: str, *,
               user_id: str | None = None) -> Settled:
        return self.quota.commit(self.subject(credential, user_id), reservation_id)

    def cancel(self, credential: Credential, reservation_id: str, *,
               user_id: str | None = None) -> Settled:
        return self.quota.cancel(self.subject(credential, user_id), reservation_id)

    def _warm_state(self, credential: Credential, model: str, acting_for: str | None):
        """(subject, allowance, used) from one Redis call, or None when anything was missing."""
        quota, cache = self.quota, self.quota.cache
        if cache is None or not cache.enabled:
            return None
        now = quota.clock()
        stamps = quota.period_stamps(now)
        probe = quota.mirror.probe(
            record_key=self.auth.record_key(credential), acting_for=acting_for or "",
            profile_key=quota.users.profile.value_key(cache, PLACEHOLDER),
            model_key=quota.models.resolve.value_key(cache, model),
            plans_key=quota.plans.limits.value_key(cache),
            day_start=stamps["day"], month_start=stamps["month"], model_type_field="model_type",
        )
        if (probe is None or probe.record is None or probe.model_type is None
                or probe.plans is None):
            return None
        principal = self.auth.principal(credential, probe.record)
        owner = usage_owner(principal, acting_for)
        if owner is None:
            subject = Subject.of_key(principal.id)
        else:
            profile = probe.profile
            if profile is None or profile["id"] != owner:
                return None
            subject = Subject.of_user(profile)
        model_type = probe.model_type
        allowance = quota.allowance(subject, model_type, probe.plans, now)
        counted = probe.counters[allowance.period]
        if counted is not None and probe.counted_as == f"{subject.id}:{model_type}":
            used = int(counted)
        else:
            used = quota.used(quota.counter_key(subject, allowance))
        return subject, allowance, used

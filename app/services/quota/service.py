"""QuotaService: may this subject use this model now, and an exact record of each use.

How it stays exact and fast (sections 3.1, 3.3 and 5 of docs/design/api-refactor.md):

* The database is the system of record. One counter row per (subject, model type, period,
  period start) holds `used` and a `version` that grows on every change. Every change is one
  SQL statement (an upsert or UPDATE ... RETURNING used, version), so concurrent updates on
  any worker serialise on the row and none is lost.
* Redis mirrors each counter (app/cache/counters.py): after the change commits, the (used,
  version) the database returned is stored only if newer than what Redis holds, and a reader
  that missed fills from the database the same way. Beside it Redis counts only holds
  (app/cache/holds.py), units granted and not yet in the database, so a miss can never be
  counted twice, and the update returns only after its mirror write: a later check on any worker
  sees the new count. A failed mirror write leaves Redis stale for at most the TTL.
* Admission (reservations.py): with Redis usable, one hold script decides every unit within
  the limit, for every route on every instance; the database's rows and counter follow it.
  Without Redis, one conditional upsert in the database decides alone.
* A check reads the counter from Redis, and from the database on a miss or with Redis down.
  The model's tier, the plan limits and the user's plan and credits are read-through cache
  entries invalidated after each change, so a plan change applies to the very next check.
  The warm path is one Lua call in all (gate.py).
* An update never refuses: a use that happened is recorded even past the limit. Past the
  limit, a plan with credits (premium) spends them in the same transaction, never below zero.
* A reservation takes one unit within the limit (or one credit past it) and lives a short
  TTL: commit keeps it, cancel gives it back, and once expired the next reserve, or a check
  about to refuse, gives it back. Committing an expired one records the use all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Unpack
from zoneinfo import ZoneInfo

from app.cache.counters import CounterMirror
from app.cache.holds import QuotaHolds
from app.cache.keys import period_stamp
from app.db.repositories.quota import CounterKey, CounterValue
from app.errors import Conflict, InvalidInput, LimitExceeded, RecordNotFound
from app.services.base import Service, ServiceDeps
from app.services.catalogue.service import ModelService
from app.services.plans import PlanService
from app.services.quota.periods import period_bounds
from app.services.quota.reservations import Reservations
from app.services.quota.rules import (
    Allowance,
    Subject,
    Verdict,
    units_past_limit,
    usage_owner,
    verdict,
)
from app.services.retry import db_retry
from app.services.users import UserService
from app.vocabulary import PERIODS

MAX_INCREMENT = 1000


@dataclass(frozen=True)
class Updated:
    """POST /api/usage/update's answer: always updated (an update is never refused)."""

    updated: bool = True
    message: str = "Usage updated successfully"


@dataclass(frozen=True)
class Standing:
    """One model tier of a subject's plan now: its limit, what is used, when it resets."""

    plan: str
    model_type: str
    limit: int
    period: str
    used: int
    remaining: int
    resets_at: datetime


UPDATED = Updated()


class QuotaService(Reservations, Service):
    def __init__(self, *, models: ModelService, users: UserService, plans: PlanService,
                 timezone: str = "UTC", reservation_ttl: int = 120,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.models, self.users, self.plans = models, users, plans
        self.zone = ZoneInfo(timezone)
        self.reservation_ttl = timedelta(seconds=reservation_ttl)
        self.mirror = CounterMirror(self.cache, ttl_seconds=self.cache_ttl)
        self.holds = QuotaHolds(self.cache, ttl_ms=self.cache_ttl * 1000)

    # Who is counted, and what their plan allows.

    def subject_for(self, principal, acting_for: str | None = None) -> Subject:
        """The subject a caller's usage counts against (admins name a user with acting_for)."""
        owner = usage_owner(principal, acting_for)
        return Subject.of_key(principal.id) if owner is None else self.subject_of_user(owner)

    def subject_of_user(self, user_id: str) -> Subject:
        profile = self.users.profile(user_id)
        if profile is None:
            raise RecordNotFound("user")
        return Subject.of_user(profile)

    def allowance(self, subject: Subject, model_type: str, limits: dict,
                  now: datetime) -> Allowance:
        rule = limits[subject.plan][model_type]
        start, end = period_bounds(rule["period"], now, self.zone)
        return Allowance(model_type, rule["limit"], rule["period"], start, end)

    def allowance_for(self, subject: Subject, model: str,
                      model_type: str | None = None) -> Allowance:
        """`model_type`: the model's tier when the caller has its catalogue entry already."""
        if model_type is None:
            model_type = self.models.resolve(model)["model_type"]
        return self.allowance(subject, model_type, self.plans.limits(), self.clock())

    def standing(self, *, key_id: str, user_id: str | None) -> list[Standing]:
        """What a key's plan allows per model tier now, what is used, and when it resets (the
        portal's view); the key's owner's plan and count when it has one."""
        subject = Subject.of_key(key_id) if user_id is None else self.subject_of_user(user_id)
        now, limits = self.clock(), self.plans.limits()
        rows = []
        for model_type in sorted(limits.get(subject.plan, {})):
            allowance = self.allowance(subject, model_type, limits, now)
            used = self.used(self.counter_key(subject, allowance))
            rows.append(Standing(subject.plan, model_type, allowance.limit, allowance.period,
                                 used, max(allowance.limit - used, 0), allowance.end))
        return rows

    def period_stamps(self, now: datetime) -> dict[str, str]:
        return {period: period_stamp(period_bounds(period, now, self.zone)[0])
                for period in PERIODS}

    @staticmethod
    def counter_key(subject: Subject, allowance: Allowance) -> CounterKey:
        return CounterKey(subject.id, allowance.model_type, allowance.period, allowance.start)

    # The check and the update.

    def verdict_for(self, subject: Subject, model: str) -> Verdict:
        allowance = self.allowance_for(subject, model)
        return self.decide(subject, allowance, self.used(self.counter_key(subject, allowance)))

    def decide(self, subject: Subject, allowance: Allowance, used: int) -> Verdict:
        """The check's answer for a count; before refusing, expired reservations are returned."""
        counter = self.counter_key(subject, allowance)
        try:
            return verdict(subject, allowance, used, self.clock())
        except LimitExceeded:
            given_back = self.holds.give_back_expired(counter, self.clock())
            if not self._release_expired(subject) and not given_back:
                raise
        used = self.used(counter)
        return verdict(subject, allowance, used, self.clock())

    def used(self, counter: CounterKey) -> int:
        """The count, from Redis when it has it, else from the database (then mirrored)."""
        mirrored = self.mirror.read(counter)
        if isinstance(mirrored, int):
            return mirrored
        value = self._stored(counter)
        if mirrored is None:  # Redis is unavailable
            return value.used
        self.mirror.fill(counter, value, mirrored.token)
        return value.used + mirrored.held

    @db_retry
    def _stored(self, counter: CounterKey) -> CounterValue:
        with self.uow() as uow:
            return uow.usage_counters.value(counter)

    def update(self, subject: Subject, model: str, *, increment: int = 1,
               idempotency_key: str | None = None) -> Updated:
        """Record `increment` uses that happened; never refused, and counted once per key."""
        if not 1 <= increment <= MAX_INCREMENT:
            raise InvalidInput(f"increment must be 1 to {MAX_INCREMENT}.", details={
                "increment": [f"Must be greater than or equal to 1 and less than or equal "
                              f"to {MAX_INCREMENT}."]})
        allowance = self.allowance_for(subject, model)
        self._record(subject, allowance, model, increment, idempotency_key)
        return UPDATED

    @db_retry
    def _record(self, subject: Subject, allowance: Allowance, model: str, units: int,
                idempotency_key: str | None) -> None:
        counter = self.counter_key(subject, allowance)
        with self.uow() as uow:
            if idempotency_key and not uow.usage_idempotency.claim(
                    subject.id, idempotency_key, model=model, units=units, now=self.clock()):
                self._check_same_update(uow, subject, idempotency_key, model, units)
                return
            value = uow.usage_counters.add(counter, units)
            spent, payer = 0, subject.credit_payer
            if payer is not None:
                spent = units_past_limit(value.used, units, allowance.limit)
                if spent:
                    uow.users.spend_credits(payer, spent)
            uow.commit()
        self.mirror.write(counter, value)
        if payer is not None and spent:
            self.users.forget(payer)

    @staticmethod
    def _check_same_update(uow, subject: Subject, key: str, model: str, units: int) -> None:
        first = uow.usage_idempotency.get_for(subject.id, key)
        if first is not None and (first.model, first.units) != (model, units):
            raise Conflict("This Idempotency-Key was used for a different update.",
                           code="IDEMPOTENCY_KEY_REUSED")

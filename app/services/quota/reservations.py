"""Reservations: one unit taken ahead of a use, for callers that must never overshoot.

A mixin of QuotaService (it uses the service's unit of work, clock, mirror, holds and
collaborators). Every route admits through here, on any instance, and one authority decides
each counter's units within the limit:

- With Redis usable, the hold script (app/cache/holds.py) decides for every route. `hold`
  (chat-fast, chat-optimized, the /v1 routes) keeps the unit as a hold in Redis: no SQL on the
  way in; it reaches the database's counter with the request's usage record (settlement.py),
  and `release` gives it back. `reserve` (chat, POST /api/usage/reserve) takes the same hold,
  then writes its reservation row and the counter's unit with no limit check (the hold
  decided), then settles the hold: the unit moves from Redis's holds into the mirrored count
  in one script, so it is never uncounted. If the hold was gone by then (it expired, or Redis
  lost the key), the unit may have been granted again: the row is cancelled and the take
  tried again. If Redis fails after the take, the hold counts the unit until it expires; the
  sweep that gives it back has the counter read from the database again.
- A unit past the limit (a premium user's credit) is spent only in the database, after the
  hold script found none left within it.
- Without Redis (none configured, or it errors) the database decides alone: one conditional
  upsert adds the unit only while used < limit.

Database reservations end with `commit` or `cancel`; expired ones give their unit back at the
next reserve, or a check about to refuse. Every counter change is one SQL statement or one
Lua script.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from app.cache.counters import Missing
from app.cache.holds import SlotsFull, Taken
from app.db.models import UsageReservation
from app.db.repositories.quota import CounterKey, CounterValue
from app.errors import Conflict, RecordNotFound
from app.services.quota.rules import Allowance, Subject, refusal, units_past_limit
from app.services.request_ids import random_uuid
from app.services.retry import db_retry

if TYPE_CHECKING:
    from app.db.uow import UnitOfWorkFactory
    from app.services.plans import PlanService
    from app.services.quota.holds import QuotaHolds
    from app.services.quota.mirror import CounterMirror
    from app.services.slots import SlotClaim
    from app.services.users import UserService

# Takes of one request: a counter can need a fill from the database, or a reservation whose
# hold expired under it starts over; past this many the counter is taken to be full.
ATTEMPTS = 4


@dataclass(frozen=True)
class Reservation:
    id: str
    expires_at: datetime
    subject: str
    model_type: str
    # Set for a hold in Redis: the counter it is held against.
    held_on: CounterKey | None = None


@dataclass(frozen=True)
class Settled:
    """A reservation after commit or cancel: committed, cancelled or expired."""

    reservation_id: str
    state: str


@dataclass(frozen=True)
class Committing:
    """A reservation committed in a transaction that is still open (`commit_in`)."""

    subject: Subject
    row: UsageReservation | None
    value: CounterValue | None
    spent: int


def _counter_of(row: UsageReservation) -> CounterKey:
    return CounterKey(row.subject, row.model_type, row.period, row.period_start)


class Reservations:
    # What QuotaService, which this mixes into, provides.
    uow: UnitOfWorkFactory
    clock: Callable[[], datetime]
    users: UserService
    plans: PlanService
    reservation_ttl: timedelta
    mirror: CounterMirror
    holds: QuotaHolds
    allowance_for: Callable[..., Allowance]
    counter_key: Callable[[Subject, Allowance], CounterKey]
    _stored: Callable[[CounterKey], CounterValue]

    def reserve(self, subject: Subject, model: str, *,
                slots: SlotClaim | None = None,
                model_type: str | None = None) -> Reservation:
        """Take one unit now (LimitExceeded if none is left); commit or cancel it later.

        `slots` (a key's rpm and concurrency, keys/limits.py) are taken as `hold` takes them:
        in the hold's script call, all with the unit or none, their buckets checked first; a
        take that could not carry them leaves them to the caller. `model_type`: the model's
        tier, when the caller has its catalogue entry already."""
        allowance = self.allowance_for(subject, model, model_type)
        for _ in range(ATTEMPTS):
            reservation = self._reserve_once(subject, allowance, slots)
            if reservation is not None:
                return reservation
        raise refusal(subject, allowance, allowance.limit, self.clock())

    def _reserve_once(self, subject: Subject, allowance: Allowance,
                      slots: SlotClaim | None = None) -> Reservation | None:
        """A reservation, or None when its hold expired before it was settled, or expired
        reservations gave units back after a refusal (start over).

        The subject's expired reservations give their units back first: in the transaction
        that writes a granted hold's row, or, before anything is refused or decided in the
        database alone, on their own."""
        counter, now = self.counter_key(subject, allowance), self.clock()
        hold_id, expires_at = f"r-{random_uuid()}", now + self.reservation_ttl
        taken = self._take_hold(counter, hold_id, allowance.limit, expires_at, now, slots)
        if taken is not None and slots is not None and taken.with_slots:
            slots.taken()  # the request's: kept whatever becomes of this reservation
        if taken is None:
            self._release_expired(subject)
            return self._reserve_in_database(subject, allowance)
        if not taken.granted:
            if self._release_expired(subject):
                return None
            if subject.spends_credits:
                return self._reserve_in_database(subject, allowance, full_at=taken.used)
            raise refusal(subject, allowance, taken.used, now)
        try:
            row_id, value = self._add_held(subject, allowance, now, expires_at)
        except BaseException:
            self.holds.try_settle(counter, hold_id, None)
            raise
        if self.holds.try_settle(counter, hold_id, value) is False:
            self.cancel(subject, row_id)
            return None
        return Reservation(row_id, expires_at, subject.id, allowance.model_type)

    def hold(self, subject: Subject, model: str, *, slots: SlotClaim | None = None,
             model_type: str | None = None) -> Reservation:
        """Take one unit in Redis alone; in the database when Redis cannot decide (it is down,
        or the unit would be a credit: credits are spent only in the database).

        `slots` (a key's rpm and concurrency, keys/limits.py) are taken in the hold's own
        script call, all with the unit or none, their bucket checked first (its error raised
        when one is full); a hold that cannot carry them leaves them to the caller.
        `model_type`: the model's tier, when the caller has its catalogue entry already."""
        allowance = self.allowance_for(subject, model, model_type)
        counter, now = self.counter_key(subject, allowance), self.clock()
        hold_id, expires_at = f"h-{random_uuid()}", now + self.reservation_ttl
        taken = self._take_hold(counter, hold_id, allowance.limit, expires_at, now, slots)
        if taken is None or (subject.spends_credits and not taken.granted):
            return self.reserve(subject, model)
        if not taken.granted:
            if not self._release_expired(subject):  # database reservations that ran out
                raise refusal(subject, allowance, taken.used, now)
            return self.hold(subject, model, slots=slots, model_type=model_type)
        if slots is not None and taken.with_slots:
            slots.taken()
        return Reservation(hold_id, expires_at, subject.id, allowance.model_type, counter)

    def release(self, reservation: Reservation) -> None:
        """Give a hold's unit back (the request failed before anything was used)."""
        self.holds.settle(reservation.held_on, reservation.id, None)

    def settle_hold(self, counter: CounterKey, hold_id: str, value: CounterValue | None) -> None:
        """A hold's use is stored: its unit moves from Redis's holds to the database's count.
        `value` is the counter the storing transaction returned (None: read it now)."""
        if value is None:
            value = self._stored(counter)
        self.holds.settle(counter, hold_id, value)

    def settle_holds(self, holds: list[tuple[CounterKey, str, CounterValue | None]]) -> None:
        """`settle_hold` for many holds, in one Redis round trip. Raises CacheError."""
        self.holds.settle_many([(counter, hold_id,
                                 self._stored(counter) if value is None else value)
                                for counter, hold_id, value in holds])

    def _take_hold(self, counter: CounterKey, hold_id: str, limit: int, expires_at: datetime,
                   now: datetime, slots: SlotClaim | None = None) -> Taken | None:
        """The hold script's answer (None: Redis cannot decide). A counter missing from Redis
        or marked stale is read from the database and filled by the next take itself. With
        `slots` (not yet taken), a full bucket raises its error."""
        fill = None
        buckets = slots.buckets() if slots is not None and slots.slots is None else None
        for _ in range(ATTEMPTS):
            taken = self.holds.take(counter, hold_id, limit, expires_at=expires_at, now=now,
                                    fill=fill, slots=buckets)
            if isinstance(taken, SlotsFull):  # only a take carrying `slots` answers it
                raise cast("SlotClaim", slots).full(taken.index, taken.retry_after_ms)
            if not isinstance(taken, Missing):
                return taken
            fill = (self._stored(counter), taken.token)
        # Only sweeps of expired holds mark a counter stale, and only at the limit.
        return Taken(False, limit)

    def _add_held(self, subject: Subject, allowance: Allowance, now: datetime,
                  expires_at: datetime) -> tuple[str, CounterValue]:
        """The reservation row of a granted hold, and its unit: no limit check here. The
        subject's expired reservations give their units back too.

        On PostgreSQL the row and the unit are one statement on its own (autocommit), so the
        subject's counter row, which all its requests add to, is locked only while the server
        runs it; expired reservations, rare, are then given back in a transaction of their
        own. Elsewhere one transaction does it all."""
        added = self._add_held_at_once(subject, allowance, now, expires_at)
        if added is None:
            return self._add_held_with_expired(subject, allowance, now, expires_at)
        row_id, value, due = added
        if due:
            self._release_expired(subject)
        return row_id, value

    @db_retry
    def _add_held_at_once(self, subject: Subject, allowance: Allowance, now: datetime,
                          expires_at: datetime) -> tuple[str, CounterValue, bool] | None:
        counter, row_id = self.counter_key(subject, allowance), str(uuid.uuid4())
        with self.uow.at_once() as uow:
            added = uow.usage_reservations.add_held(row_id, counter, expires_at=expires_at,
                                                    now=now)
            uow.commit()  # nothing left to send in autocommit
        return None if added is None else (row_id, *added)

    @db_retry
    def _add_held_with_expired(self, subject: Subject, allowance: Allowance, now: datetime,
                               expires_at: datetime) -> tuple[str, CounterValue]:
        counter = self.counter_key(subject, allowance)
        with self.uow() as uow:
            expired = self._expire_in(uow, subject, now)
            value = uow.usage_counters.add(counter, 1)
            row = self._add_row(uow, subject, allowance, now, expires_at, credits=0)
            uow.commit()
        self._after_expired(subject, *expired)
        return row.id, value

    @db_retry
    def _reserve_in_database(self, subject: Subject, allowance: Allowance, *,
                             full_at: int | None = None) -> Reservation:
        """The database decides alone (Redis cannot), or, `full_at` the count at which the hold
        script found no unit left, spends a credit."""
        counter, now = self.counter_key(subject, allowance), self.clock()
        payer = subject.credit_payer
        with self.uow() as uow:
            value, credits = None, 0
            if full_at is None:
                value = uow.usage_counters.add(counter, 1, limit=allowance.limit)
            if value is None:
                if not (payer is not None and uow.users.take_credit(payer)):
                    used = uow.usage_counters.value(counter).used if full_at is None else full_at
                    raise refusal(subject, allowance, used, now)
                value, credits = uow.usage_counters.add(counter, 1), 1
            row = self._add_row(uow, subject, allowance, now, now + self.reservation_ttl,
                                credits=credits)
            uow.commit()
        self.mirror.write(counter, value)
        if payer is not None and credits:
            self.users.forget(payer)
        return Reservation(row.id, row.expires_at, subject.id, allowance.model_type)

    @staticmethod
    def _add_row(uow, subject: Subject, allowance: Allowance, now: datetime,
                 expires_at: datetime, *, credits: int) -> UsageReservation:
        return uow.usage_reservations.add(UsageReservation(
            subject=subject.id, model_type=allowance.model_type, period=allowance.period,
            period_start=allowance.start, units=1, credits_spent=credits, state="held",
            expires_at=expires_at, created_at=now))

    @db_retry
    def commit(self, subject: Subject, reservation_id: str) -> Settled:
        """Make the use final. An expired reservation gave its unit back: it is taken again."""
        with self.uow() as uow:
            committing = self.commit_in(uow, subject, reservation_id)
            state = self._settled_state(uow, subject, reservation_id, committing.row,
                                        "committed")
            uow.commit()
        self.committed(committing)
        return Settled(reservation_id, state)

    def commit_in(self, uow, subject: Subject, reservation_id: str) -> Committing:
        """`commit`'s changes in the caller's transaction (the chat route's usage record);
        after that transaction commits, pass the answer to `committed`. Its `row` is None
        when the reservation was neither held nor expired (then nothing changed)."""
        now, value, spent = self.clock(), None, 0
        row = uow.usage_reservations.settle(reservation_id, subject.id, from_state="held",
                                            to_state="committed", now=now)
        if row is None:
            row = uow.usage_reservations.settle(reservation_id, subject.id,
                                                from_state="expired",
                                                to_state="committed", now=now)
            if row is not None:
                value = uow.usage_counters.add(_counter_of(row), row.units)
                limit = self.plans.limits()[subject.plan][row.model_type]["limit"]
                payer = subject.credit_payer
                if payer is not None:
                    spent = units_past_limit(value.used, row.units, limit)
                    if spent:
                        uow.users.spend_credits(payer, spent)
        return Committing(subject, row, value, spent)

    def committed(self, committing: Committing) -> None:
        """The transaction `commit_in` wrote in has committed: the mirror and caches follow."""
        self._after_settle(committing.subject, committing.row, committing.value,
                           committing.spent)

    @db_retry
    def cancel(self, subject: Subject, reservation_id: str) -> Settled:
        """Give the unit (and any credit it took) back."""
        value, refund = None, 0
        with self.uow() as uow:
            row = uow.usage_reservations.settle(reservation_id, subject.id, from_state="held",
                                                to_state="cancelled", now=self.clock())
            if row is not None:
                value = uow.usage_counters.subtract(_counter_of(row), row.units)
                refund = row.credits_spent
                if refund and subject.user_id:
                    uow.users.add_credits(subject.user_id, refund)
            state = self._settled_state(uow, subject, reservation_id, row, "cancelled")
            uow.commit()
        self._after_settle(subject, row, value, refund)
        return Settled(reservation_id, state)

    @staticmethod
    def _settled_state(uow, subject: Subject, reservation_id: str, changed, wanted: str) -> str:
        if changed is not None:
            return wanted
        row = uow.usage_reservations.get(reservation_id)
        if row is None or row.subject != subject.id:
            raise RecordNotFound("reservation")
        # Settling twice the same way is a no-op; an expired one is already given back.
        if row.state == wanted or (wanted == "cancelled" and row.state == "expired"):
            return row.state
        raise Conflict(f"The reservation is already {row.state}.",
                       code=f"RESERVATION_{row.state.upper()}")

    def _after_settle(self, subject: Subject, row, value: CounterValue | None,
                      credits: int) -> None:
        if value is not None:
            self.mirror.write(_counter_of(row), value)
        if credits and subject.user_id:
            self.users.forget(subject.user_id)

    @db_retry
    def _release_expired(self, subject: Subject) -> bool:
        """Give back the units of the subject's expired reservations; True if there were any."""
        now = self.clock()
        with self.uow() as uow:
            if not uow.usage_reservations.has_due(subject.id, now):
                return False
            changes, refund = self._expire_in(uow, subject, now)
            uow.commit()
        self._after_expired(subject, changes, refund)
        return bool(changes)

    def _expire_in(self, uow, subject: Subject, now: datetime
                   ) -> tuple[list[tuple[CounterKey, CounterValue | None]], int]:
        """Expire the subject's reservations past due in `uow`, their units and credits given
        back; answers the counters changed and the credits refunded, for `_after_expired`."""
        rows = uow.usage_reservations.expire_due(subject.id, now)
        changes = [(_counter_of(row), uow.usage_counters.subtract(_counter_of(row), row.units))
                   for row in rows]
        refund = sum(row.credits_spent for row in rows)
        if refund and subject.user_id:
            uow.users.add_credits(subject.user_id, refund)
        return changes, refund

    def _after_expired(self, subject: Subject,
                       changes: list[tuple[CounterKey, CounterValue | None]],
                       refund: int) -> None:
        for counter, value in changes:
            if value is not None:
                self.mirror.write(counter, value)
        if refund and subject.user_id:
            self.users.forget(subject.user_id)

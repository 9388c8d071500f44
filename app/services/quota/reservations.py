"""Reservations: one unit taken ahead of a use, for callers that must never overshoot.

A mixin of QuotaService (it uses the service's unit of work, clock, mirror and collaborators).
Two kinds: rows in the database (`reserve`, then `commit` or `cancel`), and holds in Redis
(`hold`, for chat-fast: no SQL on the way in; the unit reaches the database's counter with the
request's usage record, see settlement.py, and `release` gives it back). Each kind counts the
other's units, so together they never pass the limit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from app.db.models import UsageReservation
from app.db.repositories.quota import CounterKey, CounterValue
from app.errors import Conflict, NotFound
from app.services.quota.holds import MISSING
from app.services.quota.rules import Allowance, Subject, refusal, units_past_limit
from app.services.retry import db_retry


@dataclass(frozen=True)
class Reservation:
    id: str
    expires_at: datetime
    subject: str
    model_type: str
    # Set for a hold in Redis: the counter it is held against.
    held_on: CounterKey | None = None


def _counter_of(row: UsageReservation) -> CounterKey:
    return CounterKey(row.subject, row.model_type, row.period, row.period_start)


class Reservations:
    def reserve(self, subject: Subject, model: str) -> Reservation:
        """Take one unit now (LimitExceeded if none is left); commit or cancel it later."""
        allowance = self.allowance_for(subject, model)
        self._release_expired(subject)
        return self._take(subject, allowance)

    def hold(self, subject: Subject, model: str) -> Reservation:
        """Take one unit in Redis alone; in the database when Redis cannot decide (it is down,
        or the unit would be a credit: credits are spent only in the database)."""
        allowance = self.allowance_for(subject, model)
        counter, now = self.counter_key(subject, allowance), self.clock()
        hold_id, expires_at = f"h-{uuid.uuid4()}", now + self.reservation_ttl
        taken = self.holds.take(counter, hold_id, allowance.limit, expires_at=expires_at, now=now)
        if taken is MISSING:
            self.mirror.write(counter, self._stored(counter))
            taken = self.holds.take(counter, hold_id, allowance.limit, expires_at=expires_at,
                                    now=now)
        if taken is None or taken is MISSING or (subject.spends_credits and not taken.granted):
            return self.reserve(subject, model)
        if not taken.granted:
            if not self._release_expired(subject):  # database reservations that ran out
                raise refusal(subject, allowance, taken.used, now)
            return self.hold(subject, model)
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

    @db_retry
    def _take(self, subject: Subject, allowance: Allowance) -> Reservation:
        counter, now = self.counter_key(subject, allowance), self.clock()
        held = self.mirror.pending(counter)  # chat-fast's holds, not in the database yet
        with self.uow() as uow:
            value = uow.usage_counters.add(counter, 1, limit=allowance.limit - held)
            credits = 0
            if value is None:
                if not (subject.spends_credits and uow.users.take_credit(subject.user_id)):
                    used = uow.usage_counters.value(counter).used + held
                    raise refusal(subject, allowance, used, now)
                value, credits = uow.usage_counters.add(counter, 1), 1
            row = uow.usage_reservations.add(UsageReservation(
                subject=subject.id, model_type=allowance.model_type, period=allowance.period,
                period_start=allowance.start, units=1, credits_spent=credits, state="held",
                expires_at=now + self.reservation_ttl, created_at=now))
            uow.commit()
        self.mirror.write(counter, value)
        if credits:
            self.users.forget(subject.user_id)
        return Reservation(row.id, row.expires_at, subject.id, allowance.model_type)

    @db_retry
    def commit(self, subject: Subject, reservation_id: str) -> dict:
        """Make the use final. An expired reservation gave its unit back: it is taken again."""
        now, value, spent = self.clock(), None, 0
        limits = self.plans.limits()
        with self.uow() as uow:
            row = uow.usage_reservations.settle(reservation_id, subject.id, from_state="held",
                                                to_state="committed", now=now)
            if row is None:
                row = uow.usage_reservations.settle(reservation_id, subject.id,
                                                    from_state="expired",
                                                    to_state="committed", now=now)
                if row is not None:
                    value = uow.usage_counters.add(_counter_of(row), row.units)
                    limit = limits[subject.plan][row.model_type]["limit"]
                    if subject.spends_credits:
                        spent = units_past_limit(value.used, row.units, limit)
                    if spent:
                        uow.users.spend_credits(subject.user_id, spent)
            state = self._settled_state(uow, subject, reservation_id, row, "committed")
            uow.commit()
        self._after_settle(subject, row, value, spent)
        return {"reservationId": reservation_id, "state": state}

    @db_retry
    def cancel(self, subject: Subject, reservation_id: str) -> dict:
        """Give the unit (and any credit it took) back."""
        value, refund = None, 0
        with self.uow() as uow:
            row = uow.usage_reservations.settle(reservation_id, subject.id, from_state="held",
                                                to_state="cancelled", now=self.clock())
            if row is not None:
                value = uow.usage_counters.subtract(_counter_of(row), row.units)
                refund = row.credits_spent
                if refund:
                    uow.users.add_credits(subject.user_id, refund)
            state = self._settled_state(uow, subject, reservation_id, row, "cancelled")
            uow.commit()
        self._after_settle(subject, row, value, refund)
        return {"reservationId": reservation_id, "state": state}

    @staticmethod
    def _settled_state(uow, subject: Subject, reservation_id: str, changed, wanted: str) -> str:
        if changed is not None:
            return wanted
        row = uow.usage_reservations.get(reservation_id)
        if row is None or row.subject != subject.id:
            raise NotFound("No reservation has that id.", code="DB_RECORD_NOT_FOUND")
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
        now, changes = self.clock(), []
        with self.uow() as uow:
            if not uow.usage_reservations.has_due(subject.id, now):
                return False
            rows = uow.usage_reservations.expire_due(subject.id, now)
            for row in rows:
                changes.append((_counter_of(row), uow.usage_counters.subtract(_counter_of(row),
                                                                              row.units)))
            refund = sum(row.credits_spent for row in rows)
            if refund and subject.user_id:
                uow.users.add_credits(subject.user_id, refund)
            uow.commit()
        for counter, value in changes:
            if value is not None:
                self.mirror.write(counter, value)
        if refund and subject.user_id:
            self.users.forget(subject.user_id)
        return bool(rows)

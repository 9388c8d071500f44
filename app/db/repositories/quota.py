"""Quota counters, reservations and idempotency keys: every change is one SQL statement."""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass
from datetime import datetime
from typing import overload

from sqlalchemy import select, text, update

from app.db.driver import DriverStatement, connection_of
from app.db.models import UsageCounter, UsageIdempotencyKey, UsageReservation
from app.db.repositories.arrays import arrays, unnest
from app.db.repositories.base import Repository
from app.db.repositories.upsert import insert_for

_COUNTER_COLUMNS = [("subject", "varchar"), ("model_type", "varchar"), ("period", "varchar"),
                    ("period_start", "timestamptz"), ("used", "bigint")]
_ADD_MANY = text(
    "INSERT INTO usage_counters (subject, model_type, period, period_start, used, version) "
    f"SELECT *, 1 FROM ({unnest(_COUNTER_COLUMNS)}) AS added "
    "ON CONFLICT (subject, model_type, period, period_start) DO UPDATE SET "
    "used = usage_counters.used + excluded.used, version = usage_counters.version + 1 "
    "RETURNING subject, model_type, period, period_start, used, version")

# A granted hold's reservation row and its counter's unit in one statement (no limit check:
# the hold decided), and whether the subject has held reservations past their expiry.
_ADD_HELD = DriverStatement(text(
    "WITH counter AS ("
    " INSERT INTO usage_counters (subject, model_type, period, period_start, used, version)"
    " VALUES (CAST(:subject AS varchar), CAST(:model_type AS varchar),"
    " CAST(:period AS varchar), CAST(:period_start AS timestamptz), 1, 1)"
    " ON CONFLICT (subject, model_type, period, period_start) DO UPDATE SET"
    " used = usage_counters.used + 1, version = usage_counters.version + 1"
    " RETURNING used, version"
    "), reservation AS ("
    " INSERT INTO usage_reservations (id, subject, model_type, period, period_start, units,"
    " credits_spent, state, expires_at, created_at)"
    " SELECT CAST(:id AS varchar), CAST(:subject AS varchar), CAST(:model_type AS varchar),"
    " CAST(:period AS varchar), CAST(:period_start AS timestamptz), 1, 0, 'held',"
    " CAST(:expires_at AS timestamptz), CAST(:now AS timestamptz) FROM counter RETURNING id"
    ")"
    " SELECT counter.used, counter.version, (SELECT count(*) FROM reservation),"
    " EXISTS (SELECT 1 FROM usage_reservations WHERE subject = CAST(:subject AS varchar)"
    " AND state = 'held' AND expires_at <= CAST(:now AS timestamptz))"
    " FROM counter"))


@dataclass(frozen=True)
class CounterKey:
    subject: str
    model_type: str
    period: str
    period_start: datetime

    def where(self) -> tuple:
        return (UsageCounter.subject == self.subject, UsageCounter.model_type == self.model_type,
                UsageCounter.period == self.period,
                UsageCounter.period_start == self.period_start)


@dataclass(frozen=True)
class CounterValue:
    used: int
    version: int


class UsageCounterRepository(Repository[UsageCounter]):
    model = UsageCounter

    def value(self, key: CounterKey) -> CounterValue:
        row = self.session.execute(
            select(UsageCounter.used, UsageCounter.version).where(*key.where())
        ).first()
        return CounterValue(*row) if row else CounterValue(0, 0)

    # A counter is added to by key, never added as a row: not the base's `add`.
    @overload  # type: ignore[override]
    def add(self, key: CounterKey, units: int) -> CounterValue: ...

    @overload
    def add(self, key: CounterKey, units: int, *, limit: int | None) -> CounterValue | None: ...

    def add(self, key: CounterKey, units: int, *, limit: int | None = None) -> CounterValue | None:
        """Add `units` in one upsert; with `limit`, only if the total stays within it, else None."""
        if limit is not None and units > limit:
            return None
        table = UsageCounter.__table__
        statement = insert_for(self.session, table).values(
            subject=key.subject, model_type=key.model_type, period=key.period,
            period_start=key.period_start, used=units, version=1,
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.subject, table.c.model_type, table.c.period,
                            table.c.period_start],
            set_={"used": table.c.used + units, "version": table.c.version + 1},
            where=(table.c.used + units <= limit) if limit is not None else None,
        ).returning(table.c.used, table.c.version)
        row = self.session.execute(upsert).first()
        return CounterValue(row.used, row.version) if row else None

    def add_many(self, units: dict[CounterKey, int]) -> dict[CounterKey, CounterValue]:
        """`add` (no limit) to many counters, in key order (one lock order for every
        writer); each counter's value after."""
        ordered = sorted(units, key=astuple)
        if self.session.get_bind().dialect.name != "postgresql":
            return {key: self.add(key, units[key]) for key in ordered}
        rows = [{**asdict(key), "used": units[key]} for key in ordered]
        return {CounterKey(*row[:4]): CounterValue(*row[4:])
                for row in self.session.execute(_ADD_MANY, arrays(rows, _COUNTER_COLUMNS))}

    def subtract(self, key: CounterKey, units: int) -> CounterValue | None:
        row = self.session.execute(
            update(UsageCounter).where(*key.where())
            .values(used=UsageCounter.used - units, version=UsageCounter.version + 1)
            .returning(UsageCounter.used, UsageCounter.version)
            .execution_options(synchronize_session=False)
        ).first()
        return CounterValue(*row) if row else None


class UsageReservationRepository(Repository[UsageReservation]):
    model = UsageReservation

    def settle(self, reservation_id: str, subject: str, *, from_state: str, to_state: str,
               now: datetime) -> UsageReservation | None:
        """Move one reservation between states; None unless it was in `from_state`."""
        return self.session.scalar(
            update(UsageReservation)
            .where(UsageReservation.id == reservation_id, UsageReservation.subject == subject,
                   UsageReservation.state == from_state)
            .values(state=to_state, settled_at=now)
            .returning(UsageReservation)
            .execution_options(synchronize_session=False)
        )

    def expire_due(self, subject: str, now: datetime) -> list[UsageReservation]:
        """Mark the subject's held reservations past their expiry as expired; returns them."""
        return list(self.session.scalars(
            update(UsageReservation)
            .where(UsageReservation.subject == subject, UsageReservation.state == "held",
                   UsageReservation.expires_at <= now)
            .values(state="expired", settled_at=now)
            .returning(UsageReservation)
            .execution_options(synchronize_session=False)
        ))

    def has_due(self, subject: str, now: datetime) -> bool:
        return self.session.scalar(
            select(UsageReservation.id)
            .where(UsageReservation.subject == subject, UsageReservation.state == "held",
                   UsageReservation.expires_at <= now)
            .limit(1)
        ) is not None

    def add_held(self, reservation_id: str, key: CounterKey, *, expires_at: datetime,
                 now: datetime) -> tuple[CounterValue, bool] | None:
        """A held reservation of one unit and that unit added to `key`'s counter, in one
        statement (no limit check); the counter's value and whether the subject has held
        reservations past due (the caller expires them). None when the database is not
        PostgreSQL (nothing written)."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        (row,) = _ADD_HELD.run(connection_of(self.session), {
            "id": reservation_id, **asdict(key), "expires_at": expires_at, "now": now}).rows
        return CounterValue(int(row[0]), int(row[1])), bool(row[3])

class UsageIdempotencyRepository(Repository[UsageIdempotencyKey]):
    model = UsageIdempotencyKey

    def claim(self, subject: str, key: str, *, model: str, units: int, now: datetime) -> bool:
        """Record the key; False when it was recorded before (the update already counted)."""
        table = UsageIdempotencyKey.__table__
        statement = (
            insert_for(self.session, table)
            .values(subject=subject, key=key, model=model, units=units, created_at=now)
            .on_conflict_do_nothing(index_elements=[table.c.subject, table.c.key])
            .returning(table.c.key)
        )
        return self.session.execute(statement).first() is not None

    def get_for(self, subject: str, key: str) -> UsageIdempotencyKey | None:
        return self.session.get(UsageIdempotencyKey, (subject, key))

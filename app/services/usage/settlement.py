"""Settlement: what a chat request still owes the system of record once its answer is done.

The usage event is stored by UsageService.record_at_once (one PostgreSQL statement) or, where
one statement cannot, UsageService.record; a settlement rides in that same transaction:
the request's quota hold (chat-fast's reservation in Redis, app/cache/holds.py) becomes a unit of
the database's counter, added without a limit check since the hold already decided, and the
serving account's running totals grow. The hold leaves Redis's count only with the value that
transaction returned, so the unit is counted throughout. Queued (chat-fast), it
travels beside the usage record in the Redis Stream and the drain worker applies both at once,
so a killed worker loses neither, and a redelivered entry applies neither twice (the usage
event's request id decides; the hold is settled in Redis either way, once).

A key with window limits also holds the request's estimate (key_windows.py): a database hold
leaves in the same transaction, and once it has committed the use is charged to the key's
Redis log under its request id (so charged once however often it is settled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.cache import CacheError
from app.db.repositories.quota import CounterKey, CounterValue
from app.errors import Conflict, RecordNotFound
from app.services.keys.windows import KeyWindows, WindowHold
from app.services.quota.rules import Subject
from app.services.quota.service import QuotaService
from app.services.usage.ledger import UsageLedger
from app.services.usage.service import UsageRecord, UsageService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settlement:
    account_id: str | None = None
    tokens: int = 0
    cost: Decimal = Decimal(0)
    hold_id: str | None = None
    hold_on: CounterKey | None = None
    window: WindowHold | None = None

    def to_json(self) -> dict:
        counter = self.hold_on
        return {"account_id": self.account_id, "tokens": self.tokens, "cost": str(self.cost),
                "window": None if self.window is None else self.window.to_json(),
                "hold": None if counter is None else {
                    "id": self.hold_id, "subject": counter.subject,
                    "model_type": counter.model_type, "period": counter.period,
                    "start": counter.period_start.isoformat()}}

    @classmethod
    def from_json(cls, data: dict) -> Settlement:
        hold = data.get("hold")
        counter = None if hold is None else CounterKey(
            hold["subject"], hold.get("model_type") or hold["modelType"], hold["period"],
            datetime.fromisoformat(hold["start"]))
        # Entries queued before the names were snake_case carry accountId and modelType.
        return cls(data.get("account_id", data.get("accountId")), int(data.get("tokens", 0)),
                   Decimal(data.get("cost", "0")), hold and hold["id"], counter,
                   WindowHold.from_json(data.get("window")))


class Settler:
    def __init__(self, *, usage: UsageService, quota: QuotaService,
                 windows: KeyWindows | None = None) -> None:
        self.usage = usage
        self.quota = quota
        self.windows = windows

    def store(self, record: UsageRecord, settlement: Settlement,
              reservation: tuple[Subject, str] | None = None) -> bool:
        """Store the usage event with its settlement in one transaction; False if the event
        was stored before (then only the hold, if still open, is settled). `reservation`
        (the subject and the id of a database reservation) is committed in that same
        transaction when the event is stored, so a stored use is never left uncommitted.

        On PostgreSQL the transaction is one statement (UsageService.record_at_once); the
        hold leaves Redis after it, with the counter's value it returned."""
        window = settlement.window
        at_once = None
        # A window hold kept in the database (taken while Redis was down) leaves in the
        # session's transaction; one statement carries the other settlements.
        if window is None or window.store != "database":
            at_once = self.usage.record_at_once(
                record, account_id=settlement.account_id or None,
                account_tokens=settlement.tokens, account_cost=settlement.cost,
                reservation=None if reservation is None else (reservation[1],
                                                              reservation[0].id),
                counter=settlement.hold_on)
        if at_once is None:
            return self._store_in_session(record, settlement, reservation)
        if at_once.stored and reservation is not None and not at_once.reservation_committed:
            self._commit_late(*reservation)
        self._settled(record, settlement, at_once.counter if at_once.stored else None)
        return at_once.stored

    def _record_many(self, items: list[tuple[UsageRecord, Settlement]],
                     confirm: UsageLedger | None, counted: dict,
                     reservations: list[tuple[Subject, str] | None]) -> list[bool]:
        """UsageService.record_many with the settlements of the records it stores now (their
        counters' values go to `counted`), their database reservations committed with them."""
        committing: list = []

        def settle(uow, fresh: list[int]) -> None:
            committing.clear()  # a transaction retried from the start commits them again
            accounts, units = _sums([items[index][1] for index in fresh])
            for index in fresh:
                KeyWindows.settle_in(uow, items[index][1].window)
                if (reservation := reservations[index]) is not None:
                    committing.append(self.quota.commit_in(uow, *reservation))
            if accounts:
                uow.accounts.add_usage_many(accounts, self.usage.clock())
            if units:
                counted.update(uow.usage_counters.add_many(units))
            if confirm is not None:
                confirm.confirmed_in(uow, len(items))

        stored = self.usage.record_many([record for record, _ in items], also=settle)
        for each in committing:
            self.quota.committed(each)
        return stored

    def _store_in_session(self, record: UsageRecord, settlement: Settlement,
                          reservation: tuple[Subject, str] | None) -> bool:
        """`store` where one statement cannot: UsageService.record's transaction carries the
        settlement's writes."""
        counted: dict = {}

        def settle(uow) -> None:
            if settlement.account_id:
                uow.accounts.add_usage(settlement.account_id, tokens=settlement.tokens,
                                       cost=settlement.cost, now=self.usage.clock())
            if settlement.hold_on is not None:
                counted["value"] = uow.usage_counters.add(settlement.hold_on, 1)
            KeyWindows.settle_in(uow, settlement.window)
            if reservation is not None:
                counted["committing"] = self.quota.commit_in(uow, *reservation)

        stored = self.usage.record(record, also=settle)
        if stored and reservation is not None:
            self.quota.committed(counted["committing"])
        self._settled(record, settlement, counted.get("value") if stored else None)
        return stored

    def _settled(self, record: UsageRecord, settlement: Settlement,
                 value: CounterValue | None) -> None:
        """After the store's commit: the window log is charged and the Redis hold leaves with
        `value`, its counter as the store returned it (None: read now, the use was stored
        before)."""
        self._charge_window(record, settlement)
        if settlement.hold_on is not None and settlement.hold_id is not None:
            try:
                self.quota.settle_hold(settlement.hold_on, settlement.hold_id, value)
            except CacheError as error:
                # The hold expires and is given back; the next write brings the count up.
                log.warning("could not settle quota hold %s: %s", settlement.hold_id, error)

    def _commit_late(self, subject: Subject, reservation_id: str) -> None:
        """The use is stored but its reservation was no longer held (it expired while the
        request ran, and gave its unit back): the unit is taken again now, in a transaction of
        its own. A reservation settled otherwise meanwhile is left as it is."""
        try:
            self.quota.commit(subject, reservation_id)
        except (Conflict, RecordNotFound) as error:
            log.warning("reservation %s was not committed with its use: %s", reservation_id,
                        error.message)

    def _charge_window(self, record: UsageRecord, settlement: Settlement) -> None:
        charge = self._window_charge(record, settlement)
        if charge is not None and self.windows is not None:
            self.windows.charge(*charge)

    def _window_charge(self, record: UsageRecord, settlement: Settlement) -> tuple | None:
        """What the key's window log is charged with (KeyWindows.charge's arguments), if any.
        Stored before or now, the log gets the use once either way (its request id)."""
        # A record without a request id has no entry id in the log (the chat path gives every
        # record one); its use is read from the database when the log is filled again.
        if (settlement.window is None or self.windows is None
                or record.request_id is None):
            return None
        return (settlement.window, record.request_id, record.timestamp or self.usage.clock(),
                record.total_tokens if record.total_tokens is not None else settlement.tokens,
                record.cost or settlement.cost)

    def store_many(self, items: list[tuple[UsageRecord, Settlement]],
                   confirm: UsageLedger | None = None,
                   reservations: list[tuple[Subject, str] | None] | None = None) -> list[bool]:
        """`store` for many records in one transaction: account totals and quota counters
        are summed first and each touched row written once. Records all new are stored in
        one statement (UsageService.record_many_at_once); otherwise, or where a window hold
        lives in the database, UsageService.record_many sorts out those stored before. After
        the commit, every hold is settled with its counter's value and every window charged,
        each kind in one Redis round trip. `confirm`, if given, counts all the records as
        confirmed in its ledger (UsageLedger.confirmed_in) in that transaction when it stores
        any of them. `reservations`, one per item (the subject and the id of a database
        reservation, or None), are committed with the records stored now, as `store` commits
        one; a record stored before leaves its reservation as it is (answered False)."""
        counted: dict[CounterKey, CounterValue] = {}
        held = reservations or [None] * len(items)
        at_once = None
        if all(settlement.window is None or settlement.window.store != "database"
               for _, settlement in items):
            accounts, units = _sums([settlement for _, settlement in items])
            at_once = self.usage.record_many_at_once(
                [record for record, _ in items], accounts=accounts, counters=units,
                ledger=None if confirm is None else confirm.instance,
                reservations=[(reservation_id, subject.id)
                              for subject, reservation_id in filter(None, held)])
        if at_once is not None:
            counted.update(at_once.counters)
            stored = [True] * len(items)
            for reservation in held:
                # Stored, but no longer held (it expired while the request ran): taken again.
                if reservation is not None and reservation[1] not in at_once.committed:
                    self._commit_late(*reservation)
        else:
            stored = self._record_many(items, confirm, counted, held)
        holds, charges = [], []
        for (record, settlement), new in zip(items, stored, strict=True):
            if (charge := self._window_charge(record, settlement)) is not None:
                charges.append(charge)
            if settlement.hold_on is not None and settlement.hold_id is not None:
                holds.append((settlement.hold_on, settlement.hold_id,
                              counted.get(settlement.hold_on) if new else None))
        if charges and self.windows is not None:
            self.windows.charge_many(charges)
        try:
            self.quota.settle_holds(holds)
        except CacheError as error:
            # Each hold expires and is given back; the next write brings the count up.
            log.warning("could not settle %d quota holds: %s", len(holds), error)
        return stored


def _sums(settlements: list[Settlement]) -> tuple[list[dict], dict[CounterKey, int]]:
    """What settlements add up to: each account's totals (id, requests, tokens, cost, by id)
    and the units each quota counter takes."""
    accounts: dict[str, list[Settlement]] = {}
    holds: dict[CounterKey, int] = {}
    for settlement in settlements:
        if settlement.account_id:
            accounts.setdefault(settlement.account_id, []).append(settlement)
        if settlement.hold_on is not None:
            holds[settlement.hold_on] = holds.get(settlement.hold_on, 0) + 1
    return [{"id": account_id, "requests": len(settled),
             "tokens": sum(s.tokens for s in settled),
             "cost": sum((s.cost for s in settled), Decimal(0))}
            for account_id, settled in sorted(accounts.items())], holds

"""GroupStore: the synchronous usage stores of one process's requests that finish together,
stored in one statement (group commit).

A request hands its record and settlement in (and its database quota reservation, the `chat`
route's, committed with its record) and waits for its own answer (stored or not, or the error
its store raised), as it would from Settler.store. No timer, no thread of its
own: a request that finds no store running leads; alone, it stores its own item with
Settler.store (the one-request statement, as cheap as before). Items handed in while a store
runs wait; when it ends, the first of them leads the next store, which takes every item
waiting by then (at most `most`) in one Settler.store_many: one statement, the holds settled
in one Redis call, each touched key's spend cache invalidated once. Each leader stores one
batch and hands the lead on, so no request's answer waits on more than the store before its
own and its own.

The books are Settler's either way: store_many stores each request id once (one given twice,
or stored before, is answered False) and settles every hold once. A batch that raises is
stored again item by item (Settler.store), so one record that cannot be stored (its key
deleted meanwhile: RecordNotFound) fails only its own request; a database that cannot be
reached fails every request of the batch at once (each then queues its record, as
ChatService._store does), rather than each after its own retries.
"""

from __future__ import annotations

import logging
import threading

from app.cache import riding_along
from app.db.uow import in_shared_transaction
from app.errors import DatabaseError
from app.services.quota.rules import Subject
from app.services.usage.service import UsageRecord
from app.services.usage.settlement import Settlement, Settler

log = logging.getLogger(__name__)

# A batch failing with these failed for want of the database, not for one of its records.
_UNREACHABLE = frozenset({"DB_CONNECTION_FAILED", "DB_CONNECTION_TIMEOUT", "DB_POOL_EXHAUSTED",
                          "DB_QUERY_TIMEOUT"})


class _Waiter:
    """One request's item, and its answer once a leader has stored it."""

    __slots__ = ("record", "settlement", "reservation", "ready", "leads", "answered", "stored",
                 "error")

    def __init__(self, record: UsageRecord, settlement: Settlement,
                 reservation: tuple[Subject, str] | None) -> None:
        self.record, self.settlement, self.reservation = record, settlement, reservation
        self.ready = threading.Event()
        self.leads = False  # woken to lead the next store, not with an answer
        self.answered = False
        self.stored = False
        self.error: BaseException | None = None

    def answer(self, stored: bool = False, error: BaseException | None = None) -> None:
        """Its outcome; the waiter is woken by the leader once the whole store has ended."""
        self.stored, self.error, self.answered = stored, error, True

    def result(self) -> bool:
        if self.error is not None:
            raise self.error
        return self.stored


class GroupStore:
    """Settler.store, grouped with the requests of this process that store at the same
    time."""

    def __init__(self, settler: Settler, *, most: int = 100) -> None:
        self.settler = settler
        self.most = most
        self._lock = threading.Lock()
        self._waiting: list[_Waiter] = []
        self._storing = False  # a leader is storing; whoever comes now waits

    @property
    def waiting(self) -> int:
        """How many requests wait for a store to end (theirs or the one before)."""
        with self._lock:
            return len(self._waiting)

    def store(self, record: UsageRecord, settlement: Settlement,
              reservation: tuple[Subject, str] | None = None) -> bool:
        """Settler.store(record, settlement, reservation), possibly in one statement with
        others'."""
        if in_shared_transaction():  # a leader's thread would store it outside that one
            return self.settler.store(record, settlement, reservation)
        with self._lock:
            alone = not self._storing
            if alone:
                self._storing = True
            else:
                waiter = _Waiter(record, settlement, reservation)
                self._waiting.append(waiter)
        if alone:
            try:
                return self.settler.store(record, settlement, reservation)
            finally:
                self._hand_on()
        waiter.ready.wait()
        if waiter.leads:
            self._lead()
        return waiter.result()

    def _lead(self) -> None:
        """Store the items waiting now (this leader's among them), answer each, hand on."""
        with self._lock:
            batch, self._waiting = self._waiting[:self.most], self._waiting[self.most:]
        try:
            # The Redis writes a store may hold for the round trip after it (the spend
            # caches' invalidation) are sent when the block ends, before any waiter is woken,
            # not at the end of this leader's own request: an answered request's next check
            # reads its use.
            with riding_along():
                if len(batch) == 1:
                    self._store_alone(batch[0])
                else:
                    self._store_batch(batch)
        except BaseException as error:  # an answer for every waiter, whatever happened
            for waiter in batch:
                if not waiter.answered:
                    waiter.answer(error=error)
            raise
        finally:
            for waiter in batch:
                waiter.ready.set()
            self._hand_on()

    def _hand_on(self) -> None:
        """The store has ended: wake the first waiting request to lead the next, if any."""
        with self._lock:
            if not self._waiting:
                self._storing = False
                return
            leader = self._waiting[0]
        leader.leads = True
        leader.ready.set()

    def _store_batch(self, batch: list[_Waiter]) -> None:
        try:
            stored = self.settler.store_many([(w.record, w.settlement) for w in batch],
                                             reservations=[w.reservation for w in batch])
        except DatabaseError as error:
            if error.code not in _UNREACHABLE:
                self._store_each(batch, error)
                return
            for waiter in batch:
                waiter.answer(error=error)
            return
        except Exception as error:  # e.g. RecordNotFound: a key deleted meanwhile
            self._store_each(batch, error)
            return
        for waiter, new in zip(batch, stored, strict=True):
            waiter.answer(new)

    def _store_each(self, batch: list[_Waiter], error: Exception) -> None:
        log.warning("a batch of %d usage records was not stored (%s); storing each alone",
                    len(batch), error)
        for waiter in batch:
            self._store_alone(waiter)

    def _store_alone(self, waiter: _Waiter) -> None:
        try:
            stored = self.settler.store(waiter.record, waiter.settlement, waiter.reservation)
        except Exception as error:
            waiter.answer(error=error)
        else:
            waiter.answer(stored)

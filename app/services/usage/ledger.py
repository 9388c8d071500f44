"""UsageLedger: the app's own count of queued-but-unconfirmed usage records, kept in the
database so that a usage stream lost with Redis is reported with its size.

Summed over every instance's row, queued - confirmed - lost is never more than the number of
entries in the stream while nothing is lost: each process adds what it queued to its
instance's row *after* the XADD (in memory first, written at most every `flush_seconds` and
before a check), and a drain adds what it stored *before* acknowledging (deleting) it, so a
crash in between redelivers the entries and they count twice as confirmed. When the stream's
consumer group had to be created (the first start, or Redis restarted empty, was flushed, or
the key was deleted), any excess over the new stream's length is what was lost with the old
one: it is added to `lost`, logged and exported. The figure is a lower bound, never an
invention: counts still in a dead process's memory, records queued elsewhere in the last
`flush_seconds`, and records confirmed twice make it smaller, not larger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Unpack

from app.errors import DatabaseError
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry

log = logging.getLogger(__name__)


class UsageLedger(Service):
    def __init__(self, *, instance: str, flush_seconds: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.instance = instance
        self.flush_seconds = flush_seconds
        self.monotonic = monotonic
        self._unwritten = 0
        self._next_write = 0.0
        self._lock = threading.Lock()

    def queued(self, count: int = 1) -> None:
        """Note records this process queued; written now and then, never failing the caller."""
        with self._lock:
            self._unwritten += count
            due = self.monotonic() >= self._next_write
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            count, self._unwritten = self._unwritten, 0
            self._next_write = self.monotonic() + self.flush_seconds
        if not count:
            return
        try:
            self._add(queued=count)
        except DatabaseError as error:
            with self._lock:
                self._unwritten += count
            log.warning("usage ledger not written, kept for the next try: %s", error)

    def confirmed(self, count: int) -> None:
        """Records a drain stored; raises DatabaseError (then do not acknowledge them)."""
        if count:
            self._add(confirmed=count)

    def confirmed_in(self, uow, count: int) -> None:
        """`confirmed` inside the transaction that stores those records (the drain's batch)."""
        if count:
            uow.usage_queue_ledger.add(self.instance, confirmed=count)

    def reconcile(self, stream_length: Callable[[], int]) -> int:
        """Compare the ledger with a stream that was just created; record and answer the loss.

        The totals are read before the stream's length, so a record queued meanwhile is in
        the length and cannot pass for a lost one."""
        self.flush()
        with self.uow() as uow:
            totals = uow.usage_queue_ledger.totals()
            gap = totals["queued"] - totals["confirmed"] - totals["lost"] - stream_length()
            if gap <= 0:
                return 0
            uow.usage_queue_ledger.add(self.instance, lost=gap)
            uow.commit()
        log.error("usage stream lost: %d queued usage records were never stored (Redis "
                  "restarted without persistence, was flushed, or the stream was deleted)", gap)
        return gap

    def totals(self) -> dict[str, int]:
        with self.uow() as uow:
            return uow.usage_queue_ledger.totals()

    @db_retry
    def _add(self, **counts: int) -> None:
        # One statement on its own (autocommit): no BEGIN's and COMMIT's round trips, and the
        # instance's row is locked only while the server runs it.
        with self.uow.at_once() as uow:
            uow.usage_queue_ledger.add(self.instance, **counts)
            uow.commit()

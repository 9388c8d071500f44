"""DrainWorker: the `drain-usage` loop, which outlives whatever Redis and the database do.

Each pass takes up to `batch` entries and stores them in one transaction, whose cost hardly
grows with its size (a pass costs about as much as storing tens of records). So after a pass
that found fewer than a full batch it waits for more to gather, the longer the fewer it found:
`idle_sleep` times the part of the batch left empty, at least `pace` (`idle_sleep` when it
found none). A quiet stream is read about every `idle_sleep`, a busy one in ever bigger passes,
a backlog pass after pass without waiting; a record waits at most about `idle_sleep` plus one
pass to be stored, as on an idle stream. One second by default: at a steady few hundred records
a second, two drains' passes then take about twice as many records each as at half a second,
for about a fifth less CPU (theirs and PostgreSQL's) per stored record
(scripts/bench/drain.py --rate).

A Redis or database error never ends it: it waits (0.1 s doubling to `max_backoff`) and tries
again, checking the consumer group anew since Redis may have come back empty. Each pass beats a
heartbeat (in the round trip that reads the stream), so /readyz, /metrics and the admin metrics
tell whether a drain runs. Asked to stop, it finishes the batch in hand and drains what is
waiting (for at most `final_seconds`) before it leaves; what it could not store stays pending
for the next drain.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from app.cache import CacheError
from app.errors import DatabaseError
from app.services.usage.queue import DrainResult, UsageQueue

log = logging.getLogger(__name__)


class DrainWorker:
    def __init__(self, *, queue: UsageQueue, consumer: str, idle_sleep: float = 1.0,
                 batch: int = 500, pace: float = 0.2, max_backoff: float = 5.0,
                 final_seconds: float = 10.0,
                 on_pass: Callable[[DrainResult], None] | None = None) -> None:
        self.queue = queue
        self.consumer = consumer
        self.idle_sleep = idle_sleep
        self.batch = batch
        self.pace = min(pace, idle_sleep)
        self.max_backoff = max_backoff
        self.final_seconds = final_seconds
        self.on_pass = on_pass

    def run(self, stopping: threading.Event, *, once: bool = False) -> None:
        self.queue.warn_without_persistence()
        backoff = 0.0
        while not stopping.is_set():
            result = self._pass()
            if once:
                return
            if result is None:
                backoff = min(self.max_backoff, backoff * 2 or 0.1)
                stopping.wait(backoff)
                continue
            backoff = 0.0
            taken = result.recorded + result.duplicates + result.dead + result.left_pending
            if taken < self.batch:
                stopping.wait(self.wait_after(taken))
        self._finish()

    def wait_after(self, taken: int) -> float:
        """Seconds to wait after a pass that took `taken` (< batch) entries."""
        if not taken:
            return self.idle_sleep
        return max(self.pace, self.idle_sleep * (1 - taken / self.batch))

    def _pass(self) -> DrainResult | None:
        """One drain step; None when Redis or the database failed."""
        try:
            result = self.queue.drain_once(self.consumer, count=self.batch, beat=True)
        except CacheError as error:
            self.queue.lost_connection()
            log.warning("usage drain: Redis unavailable, retrying: %s", error)
            return None
        except DatabaseError as error:
            log.warning("usage drain: database unavailable, retrying: %s", error)
            return None
        if self.on_pass is not None:
            self.on_pass(result)
        return result

    def _finish(self) -> None:
        """Store what is waiting before stopping, within `final_seconds`."""
        deadline = time.monotonic() + self.final_seconds
        while time.monotonic() < deadline:
            result = self._pass()
            if result is None or not (result.recorded or result.duplicates or result.dead):
                break
        with contextlib.suppress(CacheError):  # its heartbeat expires on its own
            self.queue.stopped(self.consumer)

"""The usage queue: write-behind of usage records through a Redis Stream.

`enqueue` appends a record (XADD) and notes it in the ledger (usage/ledger.py); the
`drain-usage` worker reads them as a consumer group (XREADGROUP), stores what it read in one
transaction (Settler.store_many: one statement when all are new, else UsageService.record_many;
idempotent by requestId, so a record delivered twice is stored once) together with each
request's settlement if it carries one (settlement.py: its quota hold and account totals),
adds them to the ledger as confirmed in that same transaction, and only then
acknowledges them (XACK, then XDEL so the stream holds only what is not stored yet). Entries
left pending by a consumer that died are claimed by another after `claim_idle_ms`
(XAUTOCLAIM). A record the database refuses for good (an unknown key) goes to a dead-letter
stream instead of being retried forever.

When the consumer group is gone (`NOGROUP`: Redis restarted empty or was flushed) it is created
again reading from the stream's start, and the ledger tells how many queued records went with
the old stream.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass, replace

from app.cache import CacheError, CacheStore, codec
from app.cache.usage_stream import GROUP, GroupLost, UsageStream
from app.errors import DatabaseError, DomainError
from app.services.usage.ledger import UsageLedger
from app.services.usage.service import UsageRecord, UsageService
from app.services.usage.settlement import Settlement, Settler

log = logging.getLogger(__name__)

__all__ = ["GROUP", "DrainResult", "UsageQueue", "decode", "encode"]


@dataclass
class DrainResult:
    recorded: int = 0
    duplicates: int = 0
    dead: int = 0
    left_pending: int = 0


# A record's fields by name: its entry is their JSON (`extra` holds JSON values already, so
# nothing needs dataclasses.asdict's deep copy; the codec turns a dataclass into its fields).
_FIELDS = tuple(found.name for found in dataclasses.fields(UsageRecord))


def encode(record: UsageRecord) -> str:
    return codec.dumps({name: getattr(record, name) for name in _FIELDS})


def decode(payload: bytes | str) -> UsageRecord:
    return UsageRecord(**codec.loads(payload))


class NotReplicated(CacheError):
    """A queued record that no replica confirmed: treated as a queue failure, so the writer
    stores the record at once (usage/writer.py) rather than trust the master alone."""


class UsageQueue:
    def __init__(self, *, cache: CacheStore, usage: UsageService, settler: Settler,
                 ledger: UsageLedger, claim_idle_ms: int = 60_000, replicas: int = 0,
                 replica_wait_ms: int = 100) -> None:
        self.cache = cache
        # Replicas that must hold a queued record before it counts as queued (Sentinel).
        self.replicas, self.replica_wait_ms = replicas, replica_wait_ms
        self.usage = usage
        self.settler = settler
        self.ledger = ledger
        self.claim_idle_ms = claim_idle_ms
        self.store = UsageStream(cache)
        self.stream = self.store.stream
        self.dead_letters = self.store.dead_letters
        self._group_ready = False

    @property
    def client(self):
        """The Redis client (for tests that play a dead consumer)."""
        return self.store.client

    def enqueue(self, record: UsageRecord, settlement: Settlement | None = None) -> str:
        """Append a record; it gets a requestId first, so a redelivery is stored only once."""
        if not record.request_id:
            record = replace(record, request_id=f"uq-{uuid.uuid4()}")
        fields = {"record": encode(record)}
        if settlement is not None:
            fields["settle"] = codec.dumps(settlement.to_json())
        self._ensure_group()
        entry_id, replicated = self.store.add(fields, replicas=self.replicas,
                                              wait_ms=self.replica_wait_ms)
        if not replicated:
            # Only the master holds it: a failover now would lose it. The caller stores it at
            # once; the entry, if it survives, is then a duplicate the drain drops.
            raise NotReplicated(f"usage record {record.request_id} reached no replica within "
                                f"{self.replica_wait_ms} ms")
        self.ledger.queued()  # counted only once it can be lost only with its replicas too
        return entry_id

    def drain_once(self, consumer: str, *, count: int = 100, block_ms: int | None = None,
                   batched: bool = True, beat: bool = False) -> DrainResult:
        """Store what is waiting: first entries abandoned by dead consumers, then new ones.

        `batched`, the entries taken are stored in one transaction (Settler.store_many) that
        also adds them to the ledger as confirmed; if the database refuses the batch for good
        (a record of an unknown key), or without `batched`, record by record, so only the
        culprit goes to the dead letters. `beat`: the consumer's heartbeat goes in the round
        trip that reads the stream."""
        self._ensure_group()
        beat_at = time.time() if beat else None
        try:
            entries = self._take(consumer, count, block_ms, beat_at)
        except GroupLost:
            log.warning("the usage stream's consumer group is gone; creating it again")
            self._group_ready = False
            self._ensure_group()
            entries = self._take(consumer, count, block_ms, beat_at)
        result = DrainResult()
        done, waiting = [], []
        for entry_id, fields in entries:
            if fields is None:
                done.append(entry_id)  # deleted while pending: nothing to store
            elif (decoded := self._decode(entry_id, fields, result)) is None:
                done.append(entry_id)  # a dead letter now
            else:
                waiting.append((entry_id, *decoded))
        # Of those stored, the ones the batch's own transaction added to the ledger.
        confirmed = self._store_batch(waiting, done, result) if batched and waiting else None
        if confirmed is None:
            confirmed = 0
            for position, (entry_id, record, settlement, fields) in enumerate(waiting):
                if not self._store(entry_id, record, settlement, fields, result):
                    result.left_pending += len(waiting) - position
                    break
                done.append(entry_id)
        stored = result.recorded + result.duplicates + result.dead  # all gone from the stream
        try:
            self.ledger.confirmed(stored - confirmed)
        except DatabaseError as error:
            # Unacknowledged, they are delivered again and then stored as duplicates.
            log.warning("usage ledger not written; %d stored entries stay pending: %s",
                        stored, error)
            return result
        self.store.acknowledge(done)
        return result

    def lost_connection(self) -> None:
        """Redis went away: check the group again on the next call (it may have been lost)."""
        self._group_ready = False

    def backlog(self, *, beat_within: float = 15.0) -> dict:
        """What waits to be stored, for the operations page: entries never read (`lag`, None
        where Redis cannot tell), read but not stored yet (`pending`), set aside as dead
        letters (`deadLetters`), and the drain's `status` (running, oldest pending age, lost)."""
        self._ensure_group()
        return {**self.store.group_backlog(GROUP), **self.status(beat_within=beat_within)}

    def pending(self) -> int:
        self._ensure_group()
        return self.store.pending()

    def heartbeat(self, consumer: str) -> None:
        self.store.beat(consumer, time.time())

    def stopped(self, consumer: str) -> None:
        self.store.stop_beating(consumer)

    def status(self, *, beat_within: float) -> dict:
        """{running, drains, backlog, oldest_pending_age, lost_records}; never raises."""
        now = time.time()
        found: dict = {"running": False, "drains": 0, "backlog": None,
                       "oldest_pending_age": None, "lost_records": None}
        try:
            backlog = self.store.backlog(now)
            found["drains"] = self.store.drains_running(now, beat_within)
        except CacheError as error:
            found["error"] = type(error).__name__
        else:
            found.update(running=found["drains"] > 0, backlog=backlog["length"],
                         oldest_pending_age=backlog["oldestAgeSeconds"])
        try:
            found["lost_records"] = self.ledger.totals()["lost"]
        except DatabaseError as error:
            found["error"] = error.code
        return found

    def warn_without_persistence(self) -> str | None:
        """Log (and answer) a warning when Redis would lose the queued usage on a restart."""
        try:
            found = self.store.persistence()
        except CacheError:
            return None
        if found["aof"]:
            return None
        kept = ("only RDB snapshots, so a restart loses what was queued since the last one"
                if found["rdb"] else "no persistence, so a restart loses everything queued")
        message = (f"Redis keeps {kept}: chat-fast, chat-optimized, the /v1 client routes and "
                   "the write_behind usage strategy queue usage there. Run it with `appendonly "
                   "yes` and `appendfsync everysec` (a loss of about one second at most).")
        log.warning(message)
        return message

    def _take(self, consumer: str, count: int, block_ms: int | None,
              beat_at: float | None = None) -> list:
        return self.store.take(consumer, min_idle_ms=self.claim_idle_ms, count=count,
                               block_ms=block_ms, beat_at=beat_at)

    def _decode(self, entry_id, fields: dict, result: DrainResult) -> tuple | None:
        """(record, settlement, fields) of an entry; None when it cannot be read (then it is
        a dead letter)."""
        try:
            record = decode(fields[b"record"])
            settlement = (Settlement.from_json(codec.loads(fields[b"settle"]))
                          if b"settle" in fields else Settlement())
        except (KeyError, TypeError, ValueError) as error:
            self._dead(entry_id, fields, error, result)
            return None
        return record, settlement, fields

    def _store_batch(self, waiting: list[tuple], done: list, result: DrainResult
                     ) -> int | None:
        """Store the entries in one transaction, which adds them all to the ledger as
        confirmed when it stores any; answers how many it confirmed so, or None when the
        database refused the batch for good (then store them record by record). A transient
        failure leaves them all pending."""
        try:
            stored = self.settler.store_many([(record, settlement)
                                              for _, record, settlement, _ in waiting],
                                             confirm=self.ledger)
        except DatabaseError as error:
            log.warning("%d usage entries not stored yet: %s", len(waiting), error)
            result.left_pending += len(waiting)
            return 0
        except (DomainError, KeyError, TypeError, ValueError):
            return None
        result.recorded += sum(stored)
        result.duplicates += len(stored) - sum(stored)
        done += [entry_id for entry_id, *_ in waiting]
        # The transaction that committed confirmed them all only if it stored a record: when
        # all were duplicates nothing was written (and an earlier attempt's writes rolled back).
        return len(waiting) if any(stored) else 0

    def _store(self, entry_id, record: UsageRecord, settlement: Settlement, fields: dict,
               result: DrainResult) -> bool:
        try:
            stored = self.settler.store(record, settlement)
        except DatabaseError as error:
            # Transient or not, the entry stays pending; it is claimed again later.
            log.warning("usage entry %s not stored yet: %s", entry_id, error)
            return False
        except (DomainError, KeyError, TypeError, ValueError) as error:
            self._dead(entry_id, fields, error, result)
        else:
            if stored:
                result.recorded += 1
            else:
                result.duplicates += 1
        return True

    def _dead(self, entry_id, fields: dict, error: Exception, result: DrainResult) -> None:
        log.error("usage entry %s refused for good, moved to %s: %s", entry_id,
                  self.dead_letters, error)
        self.store.dead_letter({**fields, b"error": str(error)})
        result.dead += 1

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        if self.store.create_group():
            # A new group: the first start, or the old stream is gone. Anything the ledger
            # says was queued and is neither stored nor in this stream was lost with it.
            try:
                self.ledger.reconcile(lambda: self.store.backlog(time.time())["length"])
            except DatabaseError as error:
                log.error("usage stream created again, but the ledger could not be compared "
                          "with it, so a loss would go unreported: %s", error)
        self._group_ready = True

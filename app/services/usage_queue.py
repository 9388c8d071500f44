"""The usage queue: write-behind of usage records through a Redis Stream.

`enqueue` appends a record (XADD); the `drain-usage` worker reads them as a consumer group
(XREADGROUP), stores each through UsageService.record (idempotent by requestId, so a record
delivered twice is stored once) together with the request's settlement if it carries one
(settlement.py: its quota hold and account totals, in the same transaction), and acknowledges it
only after that commit (XACK, then XDEL so the stream stays short). Entries left pending by a
consumer that died are claimed by another after `claim_idle_ms` (XAUTOCLAIM). A record the
database refuses for good (an unknown key) goes to a dead-letter stream instead of being retried
forever.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass

import redis

from app.cache import CacheStore, codec
from app.errors import DatabaseError, DomainError
from app.services.settlement import Settlement, Settler
from app.services.usage import UsageRecord, UsageService

log = logging.getLogger(__name__)

GROUP = "usage-writers"


@dataclass
class DrainResult:
    recorded: int = 0
    duplicates: int = 0
    dead: int = 0
    left_pending: int = 0


def encode(record: UsageRecord) -> str:
    return codec.dumps(asdict(record))


def decode(payload: bytes | str) -> UsageRecord:
    return UsageRecord(**codec.loads(payload))


class UsageQueue:
    def __init__(self, *, cache: CacheStore, usage: UsageService, settler: Settler,
                 claim_idle_ms: int = 60_000):
        self.cache = cache
        self.usage = usage
        self.settler = settler
        self.claim_idle_ms = claim_idle_ms
        self.stream = cache.key("usage", "stream")
        self.dead_letters = cache.key("usage", "dead")
        self._group_ready = False

    @property
    def client(self) -> redis.Redis:
        return self.cache.client

    def enqueue(self, record: UsageRecord, settlement: Settlement | None = None) -> str:
        """Append a record; it gets a requestId first, so a redelivery is stored only once."""
        if not record.request_id:
            record = UsageRecord(**{**asdict(record), "request_id": f"uq-{uuid.uuid4()}"})
        fields = {"record": encode(record)}
        if settlement is not None:
            fields["settle"] = codec.dumps(settlement.to_json())
        self._ensure_group()
        return self.client.xadd(self.stream, fields).decode()

    def drain_once(self, consumer: str, *, count: int = 100, block_ms: int | None = None
                   ) -> DrainResult:
        """Store what is waiting: first entries abandoned by dead consumers, then new ones."""
        self._ensure_group()
        result = DrainResult()
        _, claimed, *_ = self.client.xautoclaim(self.stream, GROUP, consumer,
                                                min_idle_time=self.claim_idle_ms,
                                                start_id="0-0", count=count)
        fresh = self.client.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count,
                                       block=block_ms)
        entries = list(claimed) + [entry for _, batch in fresh for entry in batch]
        for position, (entry_id, fields) in enumerate(entries):
            if fields is None:
                continue  # deleted while pending: nothing to store
            if not self._store(entry_id, fields, result):
                result.left_pending += len(entries) - position
                break
        return result

    def backlog(self) -> dict:
        """What waits to be stored: entries never read (`lag`, None where Redis cannot tell),
        entries read but not stored yet (`pending`), and those set aside as dead letters."""
        self._ensure_group()
        group = next((found for found in self.client.xinfo_groups(self.stream)
                      if found["name"] in (GROUP, GROUP.encode())), {})
        return {"lag": group.get("lag"), "pending": int(group.get("pending", 0)),
                "deadLetters": int(self.client.xlen(self.dead_letters))}

    def pending(self) -> int:
        self._ensure_group()
        return int(self.client.xpending(self.stream, GROUP)["pending"])

    def _store(self, entry_id, fields: dict, result: DrainResult) -> bool:
        try:
            record = decode(fields[b"record"])
            if b"settle" in fields:
                settlement = Settlement.from_json(codec.loads(fields[b"settle"]))
                stored = self.settler.store(record, settlement)
            else:
                stored = self.usage.record(record)
        except DatabaseError as error:
            # Transient or not, the entry stays pending; it is claimed again later.
            log.warning("usage entry %s not stored yet: %s", entry_id, error)
            return False
        except (DomainError, KeyError, TypeError, ValueError) as error:
            log.error("usage entry %s refused for good, moved to %s: %s", entry_id,
                      self.dead_letters, error)
            self.client.xadd(self.dead_letters, {**fields, b"error": str(error)})
            result.dead += 1
        else:
            if stored:
                result.recorded += 1
            else:
                result.duplicates += 1
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()
        return True

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

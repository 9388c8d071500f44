"""UsageWriter: records usage as the `usage` storage strategy says, at once or written behind."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Unpack

from app.cache import CacheError
from app.errors import RecordNotFound
from app.services.base import Service, ServiceDeps
from app.services.retry import db_retry
from app.services.storage.policy import StoragePolicy
from app.services.usage.queue import UsageQueue
from app.services.usage.service import UsageRecord, UsageService
from app.services.usage.settlement import Settlement, Settler

log = logging.getLogger(__name__)


class UsageWriter(Service):
    def __init__(self, *, usage: UsageService, settler: Settler, queue: UsageQueue | None,
                 policy: StoragePolicy,
                 on_accepted: Callable[[UsageRecord], None] | None = None,
                 **kwargs: Unpack[ServiceDeps]) -> None:
        super().__init__(**kwargs)
        self.usage = usage
        self.settler = settler
        self.queue = queue
        self.policy = policy
        self.on_accepted = on_accepted

    def record(self, record: UsageRecord, *, verify_key: bool = True, behind: bool = False,
               settlement: Settlement | None = None) -> dict:
        """Store a record, or queue it under write_behind; a Redis failure falls back to storing.

        `verify_key` checks the key exists before queueing, so an unknown key is refused now
        rather than dead-lettered later (callers that just authenticated the key skip it).
        `behind` queues the record whatever the strategy (the chat-fast route). A `settlement`
        is stored in the record's transaction, queued or not.
        """
        # Priced now: a queued record keeps the price of the moment it was used.
        record = self.usage.priced(record)
        if self.queue is not None and (behind or self.policy.writes_behind("usage")):
            if verify_key:
                self._check_key(record.api_key_id)
            try:
                self.queue.enqueue(record, settlement)
            except CacheError as error:
                log.warning("usage queue unavailable, storing the record at once: %s", error)
            else:
                self._accepted(record)
                return {"recorded": True, "queued": True}
        if settlement is None:
            self.usage.record(record)
        else:
            self.settler.store(record, settlement)
        self._accepted(record)
        return {"recorded": True, "queued": False}

    def _accepted(self, record: UsageRecord) -> None:
        if self.on_accepted is not None:
            self.on_accepted(record)

    @db_retry
    def _check_key(self, key_id: str) -> None:
        with self.uow() as uow:
            if uow.api_keys.get(key_id) is None:
                raise RecordNotFound("API key")

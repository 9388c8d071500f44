"""Settlement: what a chat request still owes the system of record once its answer is done.

The usage event is stored by UsageService.record; a settlement rides in that same transaction:
the request's quota hold (chat-fast's reservation in Redis, quota/holds.py) becomes a unit of
the database's counter, added without a limit check since the hold already decided, and the
serving account's running totals grow. The hold leaves Redis's count only with the value that
transaction returned, so the unit is counted throughout. Queued (chat-fast), it
travels beside the usage record in the Redis Stream and the drain worker applies both at once,
so a killed worker loses neither, and a redelivered entry applies neither twice (the usage
event's request id decides; the hold is settled in Redis either way, once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import redis

from app.db.repositories.quota import CounterKey
from app.services.quota.service import QuotaService
from app.services.usage.service import UsageRecord, UsageService

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Settlement:
    account_id: str | None = None
    tokens: int = 0
    cost: Decimal = Decimal(0)
    hold_id: str | None = None
    hold_on: CounterKey | None = None

    def to_json(self) -> dict:
        counter = self.hold_on
        return {"accountId": self.account_id, "tokens": self.tokens, "cost": str(self.cost),
                "hold": None if counter is None else {
                    "id": self.hold_id, "subject": counter.subject,
                    "modelType": counter.model_type, "period": counter.period,
                    "start": counter.period_start.isoformat()}}

    @classmethod
    def from_json(cls, data: dict) -> Settlement:
        hold = data.get("hold")
        counter = None if hold is None else CounterKey(
            hold["subject"], hold["modelType"], hold["period"],
            datetime.fromisoformat(hold["start"]))
        return cls(data.get("accountId"), int(data.get("tokens", 0)),
                   Decimal(data.get("cost", "0")), hold and hold["id"], counter)


class Settler:
    def __init__(self, *, usage: UsageService, quota: QuotaService):
        self.usage = usage
        self.quota = quota

    def store(self, record: UsageRecord, settlement: Settlement) -> bool:
        """Store the usage event with its settlement in one transaction; False if the event
        was stored before (then only the hold, if still open, is settled)."""
        counted = {}

        def settle(uow) -> None:
            if settlement.account_id:
                uow.accounts.add_usage(settlement.account_id, tokens=settlement.tokens,
                                       cost=settlement.cost, now=self.usage.clock())
            if settlement.hold_on is not None:
                counted["value"] = uow.usage_counters.add(settlement.hold_on, 1)

        stored = self.usage.record(record, also=settle)
        if settlement.hold_on is not None:
            try:
                self.quota.settle_hold(settlement.hold_on, settlement.hold_id,
                                       counted.get("value") if stored else None)
            except redis.RedisError as error:
                # The hold expires and is given back; the next write brings the count up.
                log.warning("could not settle quota hold %s: %s", settlement.hold_id, error)
        return stored

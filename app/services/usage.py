"""UsageService: recording usage exactly once, against the key's running totals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.cache import read_through
from app.db.models import UsageEvent
from app.errors import DatabaseError, NotFound
from app.services.base import Service
from app.services.retry import db_retry


@dataclass(frozen=True)
class UsageRecord:
    api_key_id: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    request_count: int = 1
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    account_id: str | None = None
    account_type: str | None = None
    request_id: str | None = None
    timestamp: datetime | None = None
    extra: dict = field(default_factory=dict)


class UsageService(Service):
    def __init__(self, *, timezone: str = "UTC", **kwargs):
        super().__init__(**kwargs)
        self.zone = ZoneInfo(timezone)

    def today(self) -> date:
        """The day (in the quota time zone) that daily limits count."""
        return self.clock().astimezone(self.zone).date()

    @read_through("keyspend", key=lambda key_id, day: f"{key_id}:{day.isoformat()}")
    @db_retry
    def spend(self, key_id: str, day: date) -> dict:
        """A key's all-time tokens and its cost on `day`, for its limits."""
        since = datetime.combine(day, time(0), tzinfo=self.zone)
        with self.uow() as uow:
            tokens = uow.api_keys.total_tokens(key_id)
            cost = uow.usage_events.cost_since(key_id, since)
        return {"totalTokens": tokens, "costToday": cost}

    @db_retry
    def record(self, record: UsageRecord) -> bool:
        """Store one usage event and add it to the key's totals; False if already recorded."""
        now = self.clock()
        occurred_at = record.timestamp or now
        with self.uow() as uow:
            if record.request_id and uow.usage_events.get_by_request_id(record.request_id):
                return False
            found = uow.api_keys.add_usage(
                record.api_key_id, requests=record.request_count,
                input_tokens=record.input_tokens, output_tokens=record.output_tokens,
                cost=record.cost, used_at=occurred_at,
            )
            if not found:
                raise NotFound("No API key has that id.", code="DB_RECORD_NOT_FOUND")
            uow.usage_events.add(UsageEvent(
                api_key_id=record.api_key_id, account_id=record.account_id,
                account_type=record.account_type, model=record.model,
                input_tokens=record.input_tokens, output_tokens=record.output_tokens,
                cache_write_tokens=record.cache_write_tokens,
                cache_read_tokens=record.cache_read_tokens,
                total_tokens=record.input_tokens + record.output_tokens,
                cost=record.cost, request_count=record.request_count,
                request_id=record.request_id, occurred_at=occurred_at, recorded_at=now,
            ))
            try:
                uow.commit()
            except DatabaseError as error:
                if record.request_id and error.code == "DB_DUPLICATE_KEY":
                    return False  # a concurrent retry of the same request won the insert
                raise
        # Keys' limits read spend through the cache: the next check must see this use.
        self.spend.invalidate(self.cache, record.api_key_id, self.today())
        return True

"""Usage events for statistics tests, and the sums a report must give for them."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.services.usage.service import UsageRecord

MODELS = ("claude-a", "claude-b", "gpt-c")
ACCOUNTS = ("acc-1", "acc-2", None)
MEMBERS = {"model": "models", "account": "accounts", "apikey": "api_keys"}


def random_records(key_ids: list[str], start: datetime, hours: int, count: int,
                   seed: int = 42) -> list[UsageRecord]:
    rnd = random.Random(seed)
    records = []
    for i in range(count):
        records.append(UsageRecord(
            api_key_id=rnd.choice(key_ids), model=rnd.choice(MODELS),
            account_id=rnd.choice(ACCOUNTS), account_type="claude",
            input_tokens=rnd.randint(0, 5000), output_tokens=rnd.randint(0, 2000),
            cache_write_tokens=rnd.choice([0, 0, rnd.randint(1, 900)]),
            cache_read_tokens=rnd.choice([0, rnd.randint(1, 900)]),
            cost=Decimal(rnd.randint(0, 10**7)).scaleb(-8), request_count=rnd.randint(1, 3),
            request_id=f"req-{seed}-{i}",
            timestamp=start + timedelta(seconds=rnd.randint(0, hours * 3600 - 1)),
        ))
    return records


def totals(records: list[UsageRecord]) -> dict:
    return {
        "requests": sum(r.request_count for r in records),
        "input_tokens": sum(r.input_tokens for r in records),
        "output_tokens": sum(r.output_tokens for r in records),
        "cache_write_tokens": sum(r.cache_write_tokens for r in records),
        "cache_read_tokens": sum(r.cache_read_tokens for r in records),
        "total_tokens": sum(r.input_tokens + r.output_tokens + r.cache_write_tokens
                           + r.cache_read_tokens for r in records),
        "cost": sum((r.cost for r in records), Decimal(0)),
    }


def bucket_key(instant: datetime, unit: str, tz: ZoneInfo) -> str:
    """A bucket's name from local wall time (hours by UTC: a DST fold repeats a wall hour)."""
    if unit == "hour":
        return instant.astimezone(UTC).strftime("%Y-%m-%d %H")
    return instant.astimezone(tz).strftime("%Y-%m-%d" if unit == "day" else "%Y-%m")


def group_key(record: UsageRecord, group_by: str) -> str:
    if group_by == "model":
        return record.model
    if group_by == "account":
        return record.account_id or "(none)"
    return record.api_key_id


def expected_stats(records, *, start, end, unit, tz_name, group_by=None, **filters) -> dict:
    """{bucket name: (totals, {group: totals})} for the records a query selects."""
    tz = ZoneInfo(tz_name)
    chosen = [r for r in records if start <= r.timestamp < end
              and all(getattr(r, name) == value for name, value in filters.items())]
    buckets = defaultdict(list)
    for record in chosen:
        buckets[bucket_key(record.timestamp, unit, tz)].append(record)
    answer = {}
    for name, members in buckets.items():
        groups = defaultdict(list)
        if group_by:
            for record in members:
                groups[group_key(record, group_by)].append(record)
        answer[name] = (totals(members), {g: totals(rs) for g, rs in groups.items()})
    return answer


def numbers(row: dict) -> dict:
    return {name: row[name] for name in ("requests", "input_tokens", "output_tokens",
                                         "cache_write_tokens", "cache_read_tokens", "total_tokens",
                                         "cost")}


def stored_events(services, key_id: str) -> list:
    """The key's stored usage events, after storing what chat-fast queued."""
    if services.usage_queue is not None:
        services.usage_queue.drain_once("tests")
    with services.uow() as uow:
        return uow.usage_events.list_for_key(key_id)


def the_one_event(read, seconds: float = 10.0):
    """The one item `read()` answers, waiting for it (a cut stream is settled after the client
    left)."""
    deadline = time.monotonic() + seconds
    while not (events := read()):
        assert time.monotonic() < deadline, "no usage event was stored"
        time.sleep(0.05)
    assert len(events) == 1, events
    return events[0]

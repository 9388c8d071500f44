"""Helpers of the quota tests: calls of the quota routes, a hand-moved clock, racing threads,
and the count the database itself holds."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from app.db.repositories.quota import CounterKey
from app.services.quota.rules import Subject


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def all_at_once(count: int, action) -> list:
    """Run action(i) on `count` threads released together; results (or raised errors)."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        try:
            return action(i)
        except Exception as error:  # collected: the test asserts on what each call did
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def stored_count(services, subject_id: str, model_type: str, start: datetime,
                 period: str = "day") -> int:
    """The count in the database itself (the system of record)."""
    with services.uow() as uow:
        return uow.usage_counters.value(CounterKey(subject_id, model_type, period, start)).used


def today() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)

CHECK, UPDATE = "/api/usage/check", "/api/usage/update"


def check(client, headers, model="GPT-4o", **params):
    return client.get(CHECK, query_string={"model": model, **params}, headers=headers)


def update(client, headers, model="GPT-4o", **params):
    return client.post(UPDATE, query_string={"model": model, **params}, headers=headers)


def used(client, headers, model="GPT-4o", **params) -> int:
    """The count a check reports, whether it allows (200) or refuses (429)."""
    response = check(client, headers, model, **params)
    if response.status_code == 200:
        return response.json["data"]["usage"]["used"]
    return response.json["error"]["details"]["used"]


def key_counter(quota, key: dict, model: str) -> CounterKey:
    """The quota counter a free-plan key's requests for `model` count against."""
    subject = Subject(f"key:{key['id']}", "free")
    return quota.counter_key(subject, quota.allowance_for(subject, model))

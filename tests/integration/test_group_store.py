"""GroupStore on PostgreSQL + Redis: the usage stores of requests finishing together go in one
statement, each record stored once, and each request gets its own answer (or its own error)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from app import services_of
from app.db.engine import build_session_factory
from app.db.repositories.quota import CounterKey
from app.db.uow import UnitOfWorkFactory
from app.errors import DatabaseError, RecordNotFound
from app.services.usage.group_store import GroupStore
from app.services.usage.service import UsageRecord, UsageService
from app.services.usage.settlement import Settlement, Settler
from tests.api.chat_support import BODY, MODEL, add_account, key_usage
from tests.integration.test_key_windows import no_hold_left
from tests.migration.crs_limits import issued_key
from tests.support.apps import login_headers
from tests.support.quota import Clock, key_counter, stored_count

COUNTER = CounterKey("key:grouped", "basic", "day", datetime(2026, 3, 2, tzinfo=UTC))
TIMEOUT = 30
START = datetime(2026, 6, 1, tzinfo=UTC)


class FirstStoreWaits(Settler):
    """A Settler whose first store (the lone leader's) ends only once `behind` requests wait
    for it, so that they are stored together after it; it counts the stores of each kind."""

    def __init__(self, settler: Settler, behind: int) -> None:
        super().__init__(usage=settler.usage, quota=settler.quota, windows=settler.windows)
        self.group: GroupStore | None = None
        self.behind = behind
        self.alone: list[str | None] = []
        self.batches: list[int] = []

    def store(self, record, settlement, reservation=None):
        if not self.alone:
            assert self.group is not None
            deadline = time.monotonic() + TIMEOUT
            while self.group.waiting < self.behind and time.monotonic() < deadline:
                time.sleep(0.002)
        self.alone.append(record.request_id)
        return super().store(record, settlement, reservation)

    def store_many(self, items, confirm=None, reservations=None):
        self.batches.append(len(items))
        return super().store_many(items, confirm, reservations)


def grouped(settler: Settler, behind: int) -> tuple[GroupStore, FirstStoreWaits]:
    waits = FirstStoreWaits(settler, behind)
    waits.group = GroupStore(waits)
    return waits.group, waits


def use(key_id: str, number: int, hold: str | None = None) -> tuple[UsageRecord, Settlement]:
    record = UsageRecord(api_key_id=key_id, model="m-a", input_tokens=10, output_tokens=number,
                         cost=Decimal("0.0001") * (number + 1), request_id=f"grouped-{number}")
    return record, Settlement(None, 10 + number, record.cost or Decimal(0), hold, COUNTER)


def in_threads(group: GroupStore, items: list[tuple[UsageRecord, Settlement]]) -> list:
    """Each item stored through `group` on a thread of its own, all at once: each thread's
    answer, or the error it raised. Every thread must end (no waiter is left hanging)."""
    answers: list = [None] * len(items)

    def run(at: int) -> None:
        try:
            answers[at] = group.store(*items[at])
        except Exception as error:
            answers[at] = error

    threads = [threading.Thread(target=run, args=(at,)) for at in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return answers


def events(services, key_id: str) -> tuple:
    with services.uow() as uow:
        return tuple(uow.session.execute(text(
            "SELECT count(*), count(DISTINCT request_id), sum(output_tokens) FROM usage_events"
            " WHERE api_key_id = :key"), {"key": key_id}).one())


def test_requests_storing_at_once_are_stored_together_each_once_with_every_total(pg_app):
    services = services_of(pg_app)
    key_id = services.keys.create({"name": "grouped"}).id
    today = services.usage.today()
    assert services.usage.spend(key_id, today)["total_tokens"] == 0  # cached
    group, settler = grouped(services.usage_writer.settler, behind=16)
    items = [use(key_id, number) for number in range(16)]
    items.append(items[5])  # the same request stored twice: once
    answers = in_threads(group, items)

    assert sorted(answers, key=str) == [False] + [True] * 16
    assert len(settler.alone) == 1 and settler.batches == [16]
    assert events(services, key_id) == (16, 16, sum(range(16)))
    key = services.keys.get(key_id)
    assert (key.total_requests, key.total_output_tokens) == (16, sum(range(16)))
    with services.uow() as uow:
        assert uow.usage_counters.value(COUNTER).used == 16
    # The key's cached spend was invalidated: its next read counts every stored use.
    assert services.usage.spend(key_id, today)["total_tokens"] == 16 * 10 + sum(range(16))


def test_a_record_whose_key_is_gone_fails_only_its_own_request(pg_app):
    services = services_of(pg_app)
    key_id = services.keys.create({"name": "grouped"}).id
    group, settler = grouped(services.usage_writer.settler, behind=5)
    items = [use(key_id, number) for number in range(6)]
    items[3] = use("no-such-key", 3)
    answers = in_threads(group, items)

    assert isinstance(answers[3], RecordNotFound)
    assert [answers[at] for at in (0, 1, 2, 4, 5)] == [True] * 5
    assert settler.batches == [5]  # the batch failed, and each was stored alone
    assert events(services, key_id) == (5, 5, 0 + 1 + 2 + 4 + 5)
    with services.uow() as uow:
        assert uow.usage_counters.value(COUNTER).used == 5


def test_a_database_that_cannot_be_reached_fails_every_request_of_the_batch_at_once(pg_app):
    services = services_of(pg_app)
    settler = services.usage_writer.settler
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        down = UsageService(uow=UnitOfWorkFactory(build_session_factory(engine)),
                            cache=services.cache, retry_policy=settler.usage.retry_policy)
        group, waits = grouped(Settler(usage=down, quota=settler.quota), behind=7)
        answers = in_threads(group, [use("any-key", number) for number in range(8)])
    finally:
        engine.dispose()

    assert all(isinstance(answer, DatabaseError) for answer in answers), answers
    assert {answer.code for answer in answers} == {"DB_CONNECTION_FAILED"}
    # Not tried again record by record: the database is gone for all of them.
    assert len(waits.alone) == 1 and waits.batches == [7]


def chat_at_once(application, key: dict, requests: int, *, stream: bool = False,
                 route: str = "chat-optimized") -> list:
    """`requests` requests of `key` to `route` on threads of their own, their usage stored
    together: the first store ends once all the others wait behind it (one batch of
    `requests` - 1). Each answer's (status, body)."""
    group = services_of(application).chat.group_store
    settler = FirstStoreWaits(group.settler, behind=requests - 1)
    settler.group, group.settler = group, settler
    answers: list = [None] * requests

    def chat(at: int) -> None:
        response = application.test_client().post(
            f"/api/ai/{route}?model={MODEL}", json={**BODY, "stream": stream},
            headers={"x-api-key": key["apiKey"]})
        answers[at] = (response.status_code, response.get_data(as_text=True))

    threads = [threading.Thread(target=chat, args=(at,)) for at in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert len(settler.alone) == 1 and settler.batches == [requests - 1]
    return answers


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ["chat-optimized", "chat"])
def test_concurrent_requests_of_a_synchronous_route_are_each_billed_once_and_settled(
        stored_pg_app, stub_upstream, route, stream):
    """chat-optimized (RELAYGATE_CHAT_OPTIMIZED_USAGE=stored) settles Redis holds with its
    batch; chat commits its database reservations in it."""
    pg_app = stored_pg_app
    services = services_of(pg_app)
    headers, client = login_headers(pg_app), pg_app.test_client()
    account = add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "grouped"}, headers=headers).json["data"]
    requests = 12
    answers = chat_at_once(pg_app, key, requests, stream=stream, route=route)

    assert [status for status, _ in answers] == [200] * requests, answers
    assert all(("event: usage" in body) if stream else ('"usage"' in body)
               for _, body in answers)
    assert key_usage(client, headers, key["id"])["totalRequests"] == requests
    assert events(services, key["id"])[:2] == (requests, requests)
    stats = client.get(f"/api/accounts/{account['id']}", headers=headers).json["data"]
    assert stats["usageStats"]["totalRequests"] == requests
    counter = key_counter(services.quota, key, MODEL)
    if route == "chat":
        assert reservation_states(services, counter.subject) == {"committed": requests}
    else:
        assert reservation_states(services, counter.subject) == {}  # holds, in Redis
        assert services.quota.mirror.pending(counter) == 0  # every hold left Redis
    assert services.quota.used(counter) == requests
    assert services.quota._stored(counter).used == requests


def test_concurrent_chat_optimized_requests_of_a_windowed_key_charge_its_window_once_each(
        stored_pg_app, stub_upstream):
    pg_app = stored_pg_app  # chat-optimized's synchronous stores, grouped
    headers, client = login_headers(pg_app), pg_app.test_client()
    add_account(client, headers, stub_upstream, "acct-a")
    key = issued_key(pg_app, "api", "request_windowed")  # 10 requests per 60 minutes
    answers = chat_at_once(pg_app, key, 8)

    assert [status for status, _ in answers] == [200] * 8, answers
    services = services_of(pg_app)
    assert events(services, key["id"])[:2] == (8, 8)
    assert no_hold_left(services, key["id"])
    store = services.key_windows.store
    assert store.redis.client.zcard(store.keys(key["id"])[0]) == 8
    statuses = [chat_once(client, key) for _ in range(3)]
    assert statuses == [200, 200, 429]  # the window counts the eight, and the two after


def chat_once(client, key: dict) -> int:
    return client.post(f"/api/ai/chat-optimized?model={MODEL}", json={**BODY, "stream": False},
                       headers={"x-api-key": key["apiKey"]}).status_code


def test_a_grouped_request_is_answered_only_after_its_spend_cache_is_dropped(pg_app):
    """Each request stores inside its own riding_along() block, as ChatService.finish does,
    and the batch's leader stays in its block a while after the store: a request answered
    from the batch, its own block ended, must read its use in the key's spend, not the spend
    cached before (its invalidation must not wait in the leader's block)."""
    from app.cache import riding_along

    services = services_of(pg_app)
    key_id = services.keys.create({"name": "grouped"}).id
    today = services.usage.today()
    assert services.usage.spend(key_id, today)["total_tokens"] == 0  # cached
    group, settler = grouped(services.usage_writer.settler, behind=6)
    leaders: list[int] = []
    store_many = settler.store_many

    def led(items, confirm=None, reservations=None):
        leaders.append(threading.get_ident())
        return store_many(items, confirm, reservations)

    settler.store_many = led  # type: ignore[method-assign]
    items = [use(key_id, number) for number in range(7)]
    seen: list = [None] * len(items)

    def run(at: int) -> None:
        with riding_along():
            group.store(*items[at])
            if threading.get_ident() in leaders:
                time.sleep(0.3)  # the rest of the leader's request, its block still open
        seen[at] = services.usage.spend(key_id, today)["total_tokens"]

    threads = [threading.Thread(target=run, args=(at,)) for at in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert len(settler.alone) == 1 and len(leaders) == 1
    # Every request's read, once answered, counts its own use: the batch's were stored in one
    # statement before any of them was answered.
    lone = int(settler.alone[0].removeprefix("grouped-"))
    assert seen[lone] >= 10 + lone
    everything = 7 * 10 + sum(range(7))
    assert all(seen[at] == everything for at in range(7) if at != lone), seen


def reservation_states(services, subject_id: str) -> dict[str, int]:
    with services.uow() as uow:
        return dict(uow.session.execute(text(
            "SELECT state, count(*) FROM usage_reservations WHERE subject = :subject"
            " GROUP BY state"), {"subject": subject_id}).all())


def reserved(key_id: str, number: int, subject, reservation_id: str) -> tuple:
    """A `chat` request's item: its record, its settlement (no Redis hold) and its database
    reservation, committed with the record."""
    record, _ = use(key_id, number)
    return record, Settlement(None, 10 + number, record.cost or Decimal(0)), (subject,
                                                                              reservation_id)


def reserving(application) -> tuple:
    """(services, the quota service on a set clock, a key, a user's subject that reserves
    premium units against a limit of 100 a day)."""
    services = services_of(application)
    quota = services.quota
    quota.clock = Clock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    services.plans.set("free", "premium", limit=100, period="day")
    key_id = services.keys.create({"name": "grouped"}).id
    return services, quota, key_id, quota.subject_of_user(
        services.users.create(email="g@example.com").id)


def test_database_reservations_stored_together_are_committed_with_their_records(pg_app):
    services, quota, key_id, subject = reserving(pg_app)
    late = quota.reserve(subject, "GPT-4o")
    quota.clock.now += timedelta(minutes=10)  # `late` expires while its request runs ...
    held = [quota.reserve(subject, "GPT-4o") for _ in range(7)]  # ... and gives its unit back
    assert reservation_states(services, subject.id) == {"expired": 1, "held": 7}
    assert stored_count(services, subject.id, "premium", START) == 7
    group, settler = grouped(services.usage_writer.settler, behind=7)
    items = [reserved(key_id, number, subject, reservation.id)
             for number, reservation in enumerate([late, *held])]
    answers = in_threads(group, items)

    assert answers == [True] * 8
    assert len(settler.alone) == 1 and settler.batches == [7]
    assert events(services, key_id) == (8, 8, sum(range(8)))
    # Every reservation committed once with its record; the one that had expired took its
    # unit again: each stored use is counted once.
    assert reservation_states(services, subject.id) == {"committed": 8}
    assert stored_count(services, subject.id, "premium", START) == 8


def test_a_batch_with_a_record_stored_before_commits_only_the_reservations_stored_now(pg_app):
    services, quota, key_id, subject = reserving(pg_app)
    reservations = [quota.reserve(subject, "GPT-4o") for _ in range(7)]
    group, settler = grouped(services.usage_writer.settler, behind=6)
    items = [reserved(key_id, number, subject, reservation.id)
             for number, reservation in enumerate(reservations[:6])]
    # The same request id again, with a reservation of its own: stored before, so its
    # reservation is not committed with it (ChatService settles it when answered False).
    record, settlement, _ = items[2]
    items.append((record, settlement, (subject, reservations[6].id)))
    answers = in_threads(group, items)

    assert sorted(answers) == [False] + [True] * 6
    assert settler.batches == [6]  # not all new: stored the careful way, in one transaction
    assert events(services, key_id) == (6, 6, sum(range(6)))
    states = reservation_states(services, subject.id)
    assert states == {"committed": 6, "held": 1}
    with services.uow() as uow:
        assert uow.session.execute(text(
            "SELECT state FROM usage_reservations WHERE id = :id"),
            {"id": reservations[6].id}).scalar() == "held"
    assert stored_count(services, subject.id, "premium", START) == 7

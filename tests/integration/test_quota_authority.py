"""One admission authority per counter: reservations in the database and holds in Redis take
their units from the same hold script while Redis is usable, from the database alone without
it, and a hold that expired or whose settling was lost never lets a unit be granted twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from app import services_of
from app.cache.counters import Missing
from app.db.repositories.quota import CounterValue
from app.errors import LimitExceeded
from app.services.quota.reservations import Reservation
from app.services.quota.rules import Subject
from app.services.slots import SlotClaim
from tests.support.apps import make_app
from tests.support.quota import Clock, all_at_once

MODEL = "GPT-4o mini"  # basic


def setup(application, limit: int, name: str = "authority"):
    """The quota service on a hand-moved clock, a key subject and its counter."""
    services = services_of(application)
    quota = services.quota
    quota.clock = Clock(datetime.now(UTC).replace(hour=9, minute=0))
    services.plans.set("free", "basic", limit=limit, period="day")
    subject = Subject(f"key:{name}-{uuid.uuid4().hex[:6]}", "free")
    counter = quota.counter_key(subject, quota.allowance_for(subject, MODEL))
    return quota, subject, counter


def in_total(quota, counter) -> int:
    """Units counted anywhere: the database's counter and Redis's open holds."""
    return quota._stored(counter).used + quota.mirror.pending(counter)


@pytest.mark.parametrize("mirror", ["warm", "cold"])
def test_concurrent_reserves_and_holds_on_one_counter_grant_exactly_the_limit(pg_app, mirror):
    quota, subject, counter = setup(pg_app, 20)
    if mirror == "warm":
        assert quota.used(counter) == 0  # mirrored before the rush; cold: filled during it
    take = (quota.reserve, quota.hold)
    results = all_at_once(80, lambda i: take[i % 2](subject, MODEL))
    granted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert (len(granted), len(refused)) == (20, 60), [r for r in results
                                                      if r not in granted + refused]
    assert in_total(quota, counter) == 20
    with pytest.raises(LimitExceeded):
        quota.verdict_for(subject, MODEL)
    for reservation in granted:  # every unit is given back exactly once
        if reservation.held_on is None:
            quota.cancel(subject, reservation.id)
        else:
            quota.release(reservation)
    assert in_total(quota, counter) == 0
    assert quota.verdict_for(subject, MODEL).usage.used == 0


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_without_redis_the_database_alone_grants_exactly_the_limit_to_every_route(
        request, tmp_path, database):
    application = make_app(tmp_path, request.getfixturevalue(f"{database}_url"), None)
    try:
        quota, subject, counter = setup(application, 15)
        take = (quota.reserve, quota.hold)
        results = all_at_once(50, lambda i: take[i % 2](subject, MODEL))
        granted = [r for r in results if isinstance(r, Reservation)]
        assert len(granted) == 15
        assert all(r.held_on is None for r in granted)  # no Redis: all in the database
        assert sum(isinstance(r, LimitExceeded) for r in results) == 35
        assert quota._stored(counter).used == 15
    finally:
        services_of(application).engine.dispose()


def test_a_hold_whose_settling_was_lost_is_counted_from_the_database_once_it_expired(pg_app):
    quota, subject, counter = setup(pg_app, 1)
    allowance = quota.allowance_for(subject, MODEL)
    now = quota.clock()
    expires_at = now + quota.reservation_ttl
    # A reserve whose settle never reached Redis: hold taken, row and unit written, then the
    # answer delivered and the reservation committed.
    assert quota._take_hold(counter, "r-lost", 1, expires_at, now).granted
    row_id, _ = quota._add_held(subject, allowance, now, expires_at)
    assert quota.commit(subject, row_id).state == "committed"
    with pytest.raises(LimitExceeded):  # meanwhile the hold counts the unit
        quota.verdict_for(subject, MODEL)
    quota.clock.now = expires_at + timedelta(seconds=1)
    with pytest.raises(LimitExceeded):  # the hold's expiry does not free the stored unit
        quota.reserve(subject, MODEL)
    with pytest.raises(LimitExceeded):
        quota.hold(subject, MODEL)
    with pytest.raises(LimitExceeded):
        quota.verdict_for(subject, MODEL)
    assert quota._stored(counter).used == 1
    assert quota.mirror.pending(counter) == 0
    assert quota.mirror.read(counter) == 1


def test_a_reserve_that_died_before_settling_gives_its_unit_back_once_expired(pg_app):
    quota, subject, counter = setup(pg_app, 1)
    allowance = quota.allowance_for(subject, MODEL)
    now = quota.clock()
    expires_at = now + quota.reservation_ttl
    assert quota._take_hold(counter, "r-dead", 1, expires_at, now).granted
    quota._add_held(subject, allowance, now, expires_at)  # then the process died
    with pytest.raises(LimitExceeded):
        quota.reserve(subject, MODEL)
    quota.clock.now = expires_at + timedelta(seconds=1)
    again = quota.reserve(subject, MODEL)  # both the hold and the row gave the unit back
    assert quota.commit(subject, again.id).state == "committed"
    assert in_total(quota, counter) == 1
    with pytest.raises(LimitExceeded):
        quota.hold(subject, MODEL)


def test_a_reservation_whose_hold_expired_before_it_was_settled_is_cancelled(pg_app):
    quota, subject, counter = setup(pg_app, 1)
    assert quota.used(counter) == 0
    engine = services_of(pg_app).engine
    paused, taken_meanwhile = [], []

    def pause(conn, cursor, statement, *args):
        # The reserving worker stalls past its hold's expiry before writing its unit; another
        # request takes the unit the expired hold gave back.
        if "INSERT INTO usage_counters" in statement and not paused:
            paused.append(True)
            quota.clock.now += quota.reservation_ttl + timedelta(seconds=1)
            taken_meanwhile.append(quota.hold(subject, MODEL))

    event.listen(engine, "before_cursor_execute", pause)
    try:
        with pytest.raises(LimitExceeded):
            quota.reserve(subject, MODEL)
    finally:
        event.remove(engine, "before_cursor_execute", pause)
    assert taken_meanwhile[0].held_on is not None
    assert quota._stored(counter).used == 0  # the stalled reservation was cancelled
    assert in_total(quota, counter) == 1


def test_redis_stopping_between_the_take_and_the_database_write_never_overshoots(
        postgres_url, private_redis, tmp_path):
    application = make_app(tmp_path, postgres_url, private_redis.url, "rg-authority:")
    try:
        quota, subject, counter = setup(application, 2)
        engine = services_of(application).engine

        def stop_redis(conn, cursor, statement, *args):
            if "INSERT INTO usage_reservations" in statement:
                private_redis.stop()

        event.listen(engine, "before_cursor_execute", stop_redis)
        try:
            first = quota.reserve(subject, MODEL)  # its hold is taken, its settle fails
        finally:
            event.remove(engine, "before_cursor_execute", stop_redis)
        second = quota.reserve(subject, MODEL)  # Redis down: the database decides alone
        with pytest.raises(LimitExceeded):
            quota.reserve(subject, MODEL)
        with pytest.raises(LimitExceeded):
            quota.hold(subject, MODEL)
        assert quota._stored(counter).used == 2
        quota.cancel(subject, first.id)
        assert quota.commit(subject, second.id).state == "committed"
        assert quota._stored(counter).used == 1
    finally:
        services_of(application).engine.dispose()


def test_a_fill_that_read_the_database_before_a_newer_stale_mark_is_refused(pg_app):
    quota, subject, counter = setup(pg_app, 1)
    now = quota.clock()
    for hold_id in ("h-one", "h-two"):
        quota.holds.take(counter, hold_id, 5, expires_at=now, now=now,
                         fill=(CounterValue(0, 0), ""))
    assert quota.holds.give_back_expired(counter, now) == 2
    first = quota.mirror.read(counter)
    assert isinstance(first, Missing) and first.held == 0
    quota.holds.take(counter, "h-three", 5, expires_at=now, now=now,
                     fill=(CounterValue(0, 0), first.token))
    assert quota.holds.give_back_expired(counter, now) == 1  # a newer mark
    assert not quota.mirror.fill(counter, CounterValue(0, 0), first.token)
    second = quota.mirror.read(counter)
    assert isinstance(second, Missing) and second.token != first.token
    assert quota.mirror.fill(counter, CounterValue(3, 7), second.token)
    assert quota.mirror.read(counter) == 3


@pytest.mark.parametrize("take", ["hold", "reserve"])
def test_a_hold_carrying_a_keys_slots_takes_the_unit_and_the_slots_together_or_neither(
        pg_app, take):
    """The chat routes' admission: the key's rpm and concurrency slots ride in the hold's
    script (chat-fast's and chat-optimized's hold, chat's reservation)."""
    services = services_of(pg_app)
    quota, subject, counter = setup(pg_app, 3, "slots")
    issued = services.keys.create({"name": "slotted", "concurrency_limit": 5,
                                   "requests_per_minute": 100})
    key = services.keys.authenticate(issued.api_key)

    def admit(_):
        admission = services.key_limits.admit(key, "openai", with_hold=True)
        assert admission.claim is not None  # carried by the hold, not taken before it
        try:
            getattr(quota, take)(subject, MODEL, slots=admission.claim)
        except BaseException:
            admission.release(refused=True)
            raise
        admission.claimed()
        return admission

    results = all_at_once(30, admit)
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert len(refused) == 27 and {r.code for r in refused} == {"BASIC_LIMIT_EXCEEDED"}
    assert in_total(quota, counter) == 3
    redis_ = services.cache.redis
    buckets = {name: redis_.keys.slot_bucket(f"{name}:{key['id']}")
               for name in ("rpm", "concurrency")}
    # the refused hold no slot: only the three admitted do
    assert {name: redis_.client.zcard(bucket) for name, bucket in buckets.items()} == {
        "rpm": 3, "concurrency": 3}
    for admission in results:
        if not isinstance(admission, LimitExceeded):
            admission.release()
    assert redis_.client.zcard(buckets["concurrency"]) == 0

    # A full bucket refuses first, and the counter is not asked.
    quota, subject, counter = setup(pg_app, 10, "full")
    issued = services.keys.create({"name": "one-at-a-time", "concurrency_limit": 1})
    key = services.keys.authenticate(issued.api_key)
    admit(0)
    with pytest.raises(LimitExceeded) as full:
        admit(1)
    assert full.value.code == "CONCURRENCY_LIMIT_EXCEEDED"
    assert in_total(quota, counter) == 1


def test_a_reservation_whose_hold_was_gone_starts_over_keeping_the_slots_it_took_once(
        pg_app, monkeypatch):
    services = services_of(pg_app)
    quota, subject, counter = setup(pg_app, 3, "gone")
    issued = services.keys.create({"name": "gone", "concurrency_limit": 5,
                                   "requests_per_minute": 100})
    key = services.keys.authenticate(issued.api_key)
    settle, answers = quota.holds.try_settle, []

    def gone_the_first_time(held_on, hold_id, value):
        answers.append(settle(held_on, hold_id, value))
        return False if len(answers) == 1 else answers[-1]  # as if it had expired meanwhile

    monkeypatch.setattr(quota.holds, "try_settle", gone_the_first_time)
    admission = services.key_limits.admit(key, "openai", with_hold=True)
    reservation = quota.reserve(subject, MODEL, slots=admission.claim)
    admission.claimed()

    assert len(answers) == 2 and reservation.held_on is None
    assert in_total(quota, counter) == 1  # the first row cancelled, the second kept
    redis_ = services.cache.redis
    buckets = {name: redis_.keys.slot_bucket(f"{name}:{key['id']}")
               for name in ("rpm", "concurrency")}
    assert {name: redis_.client.zcard(bucket) for name, bucket in buckets.items()} == {
        "rpm": 1, "concurrency": 1}
    admission.release()
    assert redis_.client.zcard(buckets["concurrency"]) == 0


def test_an_instance_backing_off_from_redis_after_a_slow_call_still_admits_through_the_holds(
        pg_app):
    # Any slow Redis call (a cache read under load) puts the instance's connection in its
    # back-off. Redis still answers, and holds it took (on this or another instance) are not in
    # the database yet: admission must stay with the hold script, not the database alone.
    quota, subject, counter = setup(pg_app, 3)
    redis_ = services_of(pg_app).cache.redis

    def after_a_slow_call():
        redis_.failed(TimeoutError("a slow cache read"))
        assert not redis_.available()

    held = [quota.hold(subject, MODEL) for _ in range(3)]  # chat-fast holds, not yet stored
    assert all(h.held_on is not None for h in held)
    after_a_slow_call()
    with pytest.raises(LimitExceeded):
        quota.reserve(subject, MODEL)
    after_a_slow_call()
    with pytest.raises(LimitExceeded):
        quota.hold(subject, MODEL)
    redis_.retry_now()
    assert in_total(quota, counter) == 3
    quota.release(held[0])
    after_a_slow_call()
    assert quota.hold(subject, MODEL).held_on is not None  # the freed unit, by the hold script
    # A use recorded meanwhile reaches the mirror too, so no instance counts short of it.
    after_a_slow_call()
    quota.update(subject, MODEL)
    redis_.retry_now()
    assert quota.mirror.read(counter) == 4
    assert quota._stored(counter).used == 1


def test_an_instance_backing_off_from_redis_after_a_slow_call_still_takes_key_slots_there(
        pg_app):
    # The key's concurrency slots other requests hold (on any instance) live only in Redis:
    # in the back-off after a slow call, the database alone would admit past them.
    services = services_of(pg_app)
    issued = services.keys.create({"name": "two-at-a-time", "concurrency_limit": 2})
    key = services.keys.authenticate(issued.api_key)
    redis_ = services.cache.redis
    held = [services.key_limits.admit(key, "openai") for _ in range(2)]
    redis_.failed(TimeoutError("a slow cache read"))
    assert not redis_.available()
    with pytest.raises(LimitExceeded) as full:
        services.key_limits.admit(key, "openai")
    assert full.value.code == "CONCURRENCY_LIMIT_EXCEEDED"
    held[0].release()
    redis_.failed(TimeoutError("a slow cache read"))
    third = services.key_limits.admit(key, "openai")  # the freed slot, from Redis
    bucket = redis_.keys.slot_bucket(f"concurrency:{key['id']}")
    assert redis_.client.zcard(bucket) == 2
    for admission in (held[1], third):
        admission.release()
    assert redis_.client.zcard(bucket) == 0


def test_holds_settled_many_at_once_end_once_each_and_keep_each_counters_newest_count(pg_app):
    """The drain's settle_many: one script call per counter, answering as if each hold were
    settled in turn (a hold named twice ends once, an unknown one is already gone)."""
    quota, _, first = setup(pg_app, 10, "many-a")
    _, _, second = setup(pg_app, 10, "many-b")
    now = quota.clock()
    later = now + timedelta(minutes=2)
    for counter in (first, second):
        for index, hold_id in enumerate(("h1", "h2", "h3")):
            fill = (CounterValue(0, 0), "") if index == 0 else None
            assert quota.holds.take(counter, hold_id, 10, expires_at=later, now=now,
                                    fill=fill).granted
    ended = quota.holds.settle_many([
        (first, "h1", CounterValue(1, 1)), (second, "h1", None),
        (first, "h2", CounterValue(3, 3)), (first, "h1", CounterValue(2, 2)),
        (first, "h9", None), (second, "h2", CounterValue(5, 4))])
    assert ended == [True, True, True, False, False, True]
    assert (quota.mirror.read(first), quota.mirror.pending(first)) == (3 + 1, 1)
    assert (quota.mirror.read(second), quota.mirror.pending(second)) == (5 + 1, 1)
    assert quota.holds.settle_many([(first, "h3", CounterValue(2, 2))]) == [True]
    assert (quota.mirror.read(first), quota.mirror.pending(first)) == (3, 0)


def _take(quota, counter, hold_id: str, limit: int, slots: SlotClaim | None = None):
    """Reservations._take_hold of `hold_id` (the counter filled from the database first if
    Redis asks): called twice with the same arguments, as a client's retry sends them."""
    now = quota.clock()
    return quota._take_hold(counter, hold_id, limit, now + timedelta(minutes=2), now, slots)


class BucketFull(Exception):
    pass


def _claim(bucket: str) -> SlotClaim:
    """One slot in a bucket of one."""
    return SlotClaim([(bucket, "key-row", 1, 60.0)], lambda index, refusal: BucketFull(index))


def test_a_take_sent_again_after_its_reply_was_lost_takes_no_second_unit(pg_app):
    # A client retries a script on a timeout (redis-py does, on one server and on a Cluster):
    # the script may have run. Counting its hold twice would keep a unit from the limit that
    # no give-back returns, as a loaded Cluster run of the rush test above once showed.
    quota, subject, counter = setup(pg_app, 2)
    first = _take(quota, counter, "h-retried", 2)
    again = _take(quota, counter, "h-retried", 2)
    assert (first.granted, again.granted) == (True, True)
    assert quota.mirror.pending(counter) == 1
    assert _take(quota, counter, "h-other", 2).granted  # the limit's second unit
    assert not _take(quota, counter, "h-third", 2).granted
    assert quota.holds.settle(counter, "h-retried", None)  # given back: once
    assert quota.mirror.pending(counter) == 1
    assert _take(quota, counter, "h-fourth", 2).granted


def test_a_take_with_slots_sent_again_is_answered_as_taken_not_as_a_full_bucket(pg_app):
    quota, subject, counter = setup(pg_app, 5)
    assert quota.holds.carries_slots()  # one server: the slots ride the hold's script
    bucket = f"retry-{uuid.uuid4().hex[:6]}"
    claim = _claim(bucket)  # the retry sends the same slot ids
    first = _take(quota, counter, "h-retried", 5, claim)
    again = _take(quota, counter, "h-retried", 5, claim)
    assert (first.granted, first.with_slots) == (True, True)
    assert (again.granted, again.with_slots) == (True, True)  # its own slot fills the bucket
    assert quota.mirror.pending(counter) == 1
    with pytest.raises(BucketFull):  # another take finds the bucket full, and takes nothing
        _take(quota, counter, "h-other", 5, _claim(bucket))
    assert quota.mirror.pending(counter) == 1

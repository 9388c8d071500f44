"""Reservations never overshoot, and every unit they take is kept or given back exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.errors import Conflict, LimitExceeded, NotFound
from app.services.quota.reservations import Reservation, Settled
from app.services.usage.service import UsageRecord
from app.services.usage.settlement import Settlement
from tests.support.quota import Clock, all_at_once, stored_count

START = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def quota(services):
    services.quota.clock = Clock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    return services.quota


@pytest.fixture
def subject(services):
    return services.quota.subject_of_user(services.users.create(email="r@example.com").id)


def count(services, subject) -> int:
    return stored_count(services, subject.id, "premium", START)


def test_a_hundred_concurrent_reservations_against_a_limit_of_twenty_grant_exactly_twenty(
        quota, subject, services):
    services.plans.set("free", "premium", limit=20, period="day")
    results = all_at_once(100, lambda i: quota.reserve(subject, "GPT-4o"))
    granted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert (len(granted), len(refused)) == (20, 80), [r for r in results if r not in granted
                                                      and r not in refused]
    assert len({r.id for r in granted}) == 20
    assert count(services, subject) == 20
    assert refused[0].code == "PREMIUM_LIMIT_EXCEEDED"


def test_commit_keeps_the_unit_and_cancel_gives_it_back(quota, subject, services):
    kept, returned = quota.reserve(subject, "GPT-4o"), quota.reserve(subject, "GPT-4o")
    assert kept.expires_at == quota.clock() + timedelta(seconds=120)
    assert count(services, subject) == 2
    assert quota.commit(subject, kept.id) == Settled(kept.id, "committed")
    assert quota.cancel(subject, returned.id) == Settled(returned.id, "cancelled")
    assert count(services, subject) == 1
    assert quota.verdict_for(subject, "GPT-4o").usage.used == 1


def test_settling_twice_the_same_way_is_harmless_but_the_other_way_is_a_conflict(quota,
                                                                                 subject,
                                                                                 services):
    first, second = quota.reserve(subject, "GPT-4o"), quota.reserve(subject, "GPT-4o")
    quota.commit(subject, first.id)
    quota.cancel(subject, second.id)
    assert quota.commit(subject, first.id).state == "committed"
    assert quota.cancel(subject, second.id).state == "cancelled"
    with pytest.raises(Conflict) as committed:
        quota.cancel(subject, first.id)
    assert committed.value.code == "RESERVATION_COMMITTED"
    with pytest.raises(Conflict):
        quota.commit(subject, second.id)
    assert count(services, subject) == 1


def test_an_expired_reservation_gives_its_unit_back(quota, subject, services):
    services.plans.set("free", "premium", limit=1, period="day")
    forgotten = quota.reserve(subject, "GPT-4o")
    with pytest.raises(LimitExceeded):
        quota.reserve(subject, "GPT-4o")
    quota.clock.now += timedelta(seconds=121)
    assert quota.verdict_for(subject, "GPT-4o").usage.used == 0  # a check about to refuse
    again = quota.reserve(subject, "GPT-4o")
    assert count(services, subject) == 1
    assert quota.cancel(subject, forgotten.id).state == "expired"
    assert quota.commit(subject, again.id).state == "committed"
    assert count(services, subject) == 1


def test_committing_an_expired_reservation_still_records_the_use(quota, subject, services):
    late = quota.reserve(subject, "GPT-4o")
    quota.clock.now += timedelta(minutes=10)
    quota.reserve(subject, "GPT-4o mini")  # any reserve gives expired units back first
    assert count(services, subject) == 0
    assert quota.commit(subject, late.id).state == "committed"
    assert count(services, subject) == 1


def test_another_subjects_reservation_or_an_unknown_id_is_not_found(quota, subject, services):
    mine = quota.reserve(subject, "GPT-4o")
    other = quota.subject_of_user(services.users.create(email="o@example.com").id)
    for action in (quota.commit, quota.cancel):
        with pytest.raises(NotFound):
            action(other, mine.id)
        with pytest.raises(NotFound):
            action(subject, "no-such-reservation")
    assert count(services, subject) == 1


def test_past_the_limit_a_premium_user_reserves_with_a_credit_and_a_cancel_refunds_it(
        quota, services):
    user = services.users.create(email="p@example.com", plan="premium", credits=1)
    services.plans.set("premium", "premium", limit=1, period="day")
    subject = quota.subject_of_user(user.id)
    quota.reserve(subject, "GPT-4o")
    paid = quota.reserve(subject, "GPT-4o")
    assert services.users.get(user.id).credits == 0
    with pytest.raises(LimitExceeded) as refused:
        quota.reserve(quota.subject_of_user(user.id), "GPT-4o")
    assert refused.value.extra["upgradeAction"] == "buy_credits"
    quota.cancel(subject, paid.id)
    assert services.users.get(user.id).credits == 1
    assert quota.verdict_for(quota.subject_of_user(user.id), "GPT-4o").usage.credits == 1


def test_a_reservation_committed_with_its_usage_record_is_kept_once_however_often_stored(
        quota, subject, services):
    key_id = services.keys.create({"name": "sync chat"}).id
    reservation = quota.reserve(subject, "GPT-4o")
    record = UsageRecord(api_key_id=key_id, model="GPT-4o", input_tokens=3,
                         output_tokens=4, request_id="chat-once")
    assert services.usage_writer.settler.store(record, Settlement(), (subject, reservation.id))
    assert not services.usage_writer.settler.store(record, Settlement(), (subject, reservation.id))
    assert count(services, subject) == 1
    with pytest.raises(Conflict) as committed:
        quota.cancel(subject, reservation.id)
    assert committed.value.code == "RESERVATION_COMMITTED"
    with services.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM usage_events WHERE api_key_id = :k"),
                                  {"k": key_id}).scalar() == 1


def test_a_reservation_that_expired_while_its_request_ran_is_kept_once_with_the_stored_use(
        quota, subject, services):
    key_id = services.keys.create({"name": "slow chat"}).id
    slow = quota.reserve(subject, "GPT-4o")
    quota.clock.now += timedelta(minutes=10)
    quota.reserve(subject, "GPT-4o mini")  # gives the expired unit back
    assert count(services, subject) == 0
    record = UsageRecord(api_key_id=key_id, model="GPT-4o", input_tokens=3,
                         output_tokens=4, request_id="chat-slow")
    assert services.usage_writer.settler.store(record, Settlement(), (subject, slow.id))
    assert count(services, subject) == 1
    assert quota.commit(subject, slow.id).state == "committed"
    assert not services.usage_writer.settler.store(record, Settlement(), (subject, slow.id))
    assert count(services, subject) == 1

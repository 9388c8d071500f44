"""The synchronous chat route's account pick: the candidates and the touch of the one tried
first in one statement (PostgreSQL), picking and touching what the listing and the separate
touch did, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app import services_of
from app.services.accounts import candidates as pool
from tests.support.accounts import api_key_body, oauth_body, to_service


@pytest.fixture
def pg_services(pg_app):
    """Where the pick touches in its own statement (elsewhere it touches nothing)."""
    return services_of(pg_app)


def _account(services, provider="openai", **fields) -> str:
    return services.accounts.create(to_service(api_key_body(provider, **fields)))["id"]


def _last_used(services, *account_ids: str) -> dict[str, datetime | None]:
    with services.uow() as uow:
        return {account_id: uow.accounts.get(account_id).last_used_at
                for account_id in account_ids}


def _order(services, now: datetime) -> list[str]:
    with services.uow() as uow:
        return [row.id for row in uow.accounts.candidates("openai", now)]


def test_the_pick_lists_the_recoverable_candidates_in_the_listings_order(services, backend):
    now = datetime.now(UTC)
    high, equal = _account(services, priority=90), _account(services, priority=90)
    low, resting = _account(services, priority=10), _account(services, priority=95)
    _account(services, "claude", priority=100)
    services.scheduler.mark_rate_limited(resting, now - timedelta(seconds=1))
    with services.uow() as uow:
        uow.accounts.touch(high, now - timedelta(minutes=1))
        uow.commit()
    cases = [dict(), dict(exclude=[equal]), dict(only=[low, resting]), dict(only=[]),
             dict(only=[resting, high], exclude=[high])]
    for case in cases:
        with services.uow() as uow:
            listed = uow.accounts.candidate_fields(pool.FIELDS, "openai", now,
                                                   recoverable=True, **case)
            picked, touched = uow.accounts.pick(pool.FIELDS, "openai", now, touch=False, **case)
        assert picked == listed, case
        assert touched is None, case
    assert _last_used(services, equal, low, resting) == {equal: None, low: None, resting: None}


@pytest.mark.parametrize("prefer", [None, "low", "elsewhere"])
def test_the_pick_touches_the_first_to_try_and_nothing_else(services, backend, prefer):
    now = datetime.now(UTC).replace(microsecond=0)
    accounts = {"high": _account(services, priority=90), "low": _account(services, priority=10)}
    other = _account(services, "claude", priority=100)
    preferred = accounts.get(prefer, prefer)
    with services.uow.at_once() as uow:
        picked, touched = uow.accounts.pick(pool.FIELDS, "openai", now, prefer=preferred)
        uow.commit()
    assert [row["id"] for row in picked] == [accounts["high"], accounts["low"]]
    first = accounts["low"] if prefer == "low" else accounts["high"]
    if backend == "sqlite":  # nothing is touched there: the scheduler touches on its own
        assert touched is None
        return
    assert touched == first
    assert _last_used(services, *accounts.values(), other) == {
        **{account_id: None for account_id in (*accounts.values(), other)}, first: now}


def test_the_pick_touches_nothing_while_a_candidate_is_due_to_be_revived(pg_services):
    services = pg_services
    now = datetime.now(UTC)
    active, resting = _account(services, priority=90), _account(services, priority=10)
    services.scheduler.mark_rate_limited(resting, now - timedelta(seconds=1))
    with services.uow.at_once() as uow:
        picked, touched = uow.accounts.pick(pool.FIELDS, "openai", now)
        uow.commit()
    assert [row["id"] for row in picked] == [active, resting]
    assert touched is None
    assert _last_used(services, active, resting) == {active: None, resting: None}


def test_the_pick_leaves_an_oauth_account_due_a_refresh_untouched(pg_services):
    services = pg_services
    now = datetime.now(UTC)
    expiring = services.accounts.create(to_service(oauth_body(
        "openai", expires_in=60, priority=90)))["id"]
    with services.uow.at_once() as uow:
        _, due = uow.accounts.pick(pool.FIELDS, "openai", now,
                                   refresh_by=now + timedelta(minutes=5))
        _, fresh = uow.accounts.pick(pool.FIELDS, "openai", now,
                                     refresh_by=now + timedelta(seconds=30))
        uow.commit()
    assert due is None and fresh == expiring


def test_a_database_pick_leases_the_listings_first_and_moves_it_behind_its_equals(
        services):
    now = datetime.now(UTC)
    equals = [_account(services, priority=50) for _ in range(3)]
    _account(services, priority=10)
    for _ in range(5):
        expected = _order(services, now)[0]
        with services.scheduler.acquire("openai", "model") as lease:
            assert lease.account.id == expected
        assert _order(services, now)[2] == expected  # last of the three equals
        assert _last_used(services, expected)[expected] is not None
    assert sorted(set(equals)) == sorted(_order(services, now)[:3])


def test_a_sticky_account_is_leased_and_touched_before_the_listings_first(services):
    first, sticky = _account(services, priority=90), _account(services, priority=10)
    with services.scheduler.acquire("openai", "model", prefer=sticky) as lease:
        assert lease.account.id == sticky
    touched = _last_used(services, first, sticky)
    assert touched[first] is None and touched[sticky] is not None


def test_an_account_at_its_concurrency_is_passed_over_and_the_one_leased_is_touched(services):
    full = _account(services, priority=90, maxConcurrency=1)
    spare = _account(services, priority=10)
    held = services.scheduler.acquire("openai", "model")
    assert held.account.id == full
    with services.uow() as uow:
        uow.accounts.touch(full, datetime(2020, 1, 1, tzinfo=UTC))
        uow.commit()
    with services.scheduler.acquire("openai", "model") as lease:
        assert lease.account.id == spare
    assert _last_used(services, spare)[spare] is not None
    held.release()

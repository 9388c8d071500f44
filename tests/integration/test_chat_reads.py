"""The synchronous chat route's reads as prebuilt Core statements give what the ORM reads gave:
the key's validation record with its bindings' providers, and the account candidates in the
scheduler's order, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.services.accounts import candidates as pool
from tests.support.accounts import api_key_body, to_service


def _account(services, provider="openai", **fields) -> str:
    return services.accounts.create(to_service(api_key_body(provider, **fields)))["id"]


def test_a_fresh_key_read_lists_its_bindings_in_order_each_with_the_provider_it_binds(services):
    account = _account(services, "claude")
    group = services.account_groups.create({"name": "team", "provider": "gemini"})["id"]
    issued = services.keys.create({"name": "bound", "account_bindings": [
        {"account_id": account}, {"group_id": group}]})
    record = services.keys.authenticate(issued.api_key, fresh=True)
    assert sorted(record["account_bindings"], key=str) == sorted(
        [{"account_id": account, "provider": "claude"},
         {"group_id": group, "provider": "gemini"}], key=str)
    assert record["id"] == issued.id and record["is_active"] is True
    unbound = services.keys.create({"name": "free"})
    assert services.keys.authenticate(unbound.api_key, fresh=True)["account_bindings"] == []


def test_a_fresh_key_read_gives_the_record_the_cached_read_gives(services):
    issued = services.keys.create({"name": "same", "token_limit": 500,
                                   "requests_per_minute": 7, "allowed_models": ["gpt-*"]})
    fresh = services.keys.authenticate(issued.api_key, fresh=True)
    cached = services.keys.authenticate(issued.api_key)
    assert fresh == cached
    assert fresh["token_limit"] == 500 and fresh["rate_limits"]["requests"] == 7
    assert fresh["allowed_models"] == ["gpt-*"]


def test_a_deleted_key_reads_as_unknown(services):
    issued = services.keys.create({"name": "gone"})
    services.keys.delete(issued.id)
    assert services.keys.validate.uncached(services.keys, "0" * 64) is None
    hashed = services.keys._lookups(issued.api_key)[0][0]
    assert services.keys.validate.uncached(services.keys, hashed) is None


def test_the_pick_statement_lists_the_candidates_the_orm_lists_in_the_same_order(services):
    now = datetime.now(UTC)
    high = _account(services, priority=90)
    equal = _account(services, priority=90)
    low = _account(services, priority=10)
    dedicated = _account(services, priority=95)
    cooling = _account(services, priority=99)
    resting = _account(services, priority=98)
    _account(services, "claude", priority=100)
    services.scheduler.mark_rate_limited(resting, now - timedelta(seconds=1))
    with services.uow() as uow:
        uow.accounts.add_failure(cooling, threshold=1, cooldown_until=now + timedelta(hours=1))
        uow.accounts.touch(high, now)
        uow.accounts.get(dedicated).dedicated = True
        uow.commit()
    cases = [dict(), dict(recoverable=True), dict(exclude=[equal]),
             dict(only=[dedicated, low, cooling]), dict(only=[]),
             dict(only=[resting, high], recoverable=True, exclude=[high])]
    for case in cases:
        with services.uow() as uow:
            orm = [row.id for row in uow.accounts.candidates("openai", now, **case)]
            core = [row["id"] for row in uow.accounts.candidate_fields(
                pool.FIELDS, "openai", now, **case)]
        assert core == orm, case
    with services.uow() as uow:
        assert [row.id for row in uow.accounts.candidates("openai", now)] == [equal, high, low]
        assert [row["id"] for row in uow.accounts.candidate_fields(
            pool.FIELDS, "openai", now, recoverable=True)] == [resting, equal, high, low]

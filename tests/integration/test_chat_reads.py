"""The synchronous chat route's reads as prebuilt Core statements give what the ORM reads gave:
the key's validation record with its bindings' providers, and the account candidates in the
scheduler's order, the key with the model in one statement, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.errors import Unauthenticated
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


def _fresh_pair(services, plaintext: str, model: str) -> tuple:
    """The key's record and the model's record, each read fresh on its own."""
    return (services.keys.authenticate(plaintext, fresh=True),
            services.models.resolve.uncached(services.models, model))


def test_the_key_and_the_model_read_in_one_statement_give_what_each_fresh_read_gives(
        services):
    account = _account(services, "claude")
    group = services.account_groups.create({"name": "team", "provider": "gemini"})["id"]
    bound = services.keys.create({"name": "bound", "token_limit": 9, "account_bindings": [
        {"account_id": account}, {"group_id": group}]})
    free = services.keys.create({"name": "free", "allowed_models": ["gpt-*"]})
    services.models.create({"id": "openai/gpt-9", "name": "GPT-9", "provider": "openai",
                            "model_type": "premium", "upstream_model": "gpt-9",
                            "input_price": Decimal("1.5"), "output_price": Decimal(6),
                            "aliases": ["nine"]})
    # One entry's name is another's id: the id wins, as resolve has it.
    services.models.create({"id": "openai/shadow", "name": "openai/gpt-9",
                            "provider": "openai", "model_type": "basic",
                            "upstream_model": "shadow"})
    for issued in (bound, free):
        for model in ("openai/gpt-9", "GPT-9", "openai/shadow", "nine", "no/such-model"):
            key, found = services.keys.authenticate_with_model(issued.api_key, model)
            assert (key, services.models.record_of(found)) == _fresh_pair(
                services, issued.api_key, model), (issued.name, model)
    key, found = services.keys.authenticate_with_model(bound.api_key, "openai/gpt-9")
    assert found.id == "openai/gpt-9" and found.input_price == Decimal("1.5")
    assert len(key["account_bindings"]) == 2 and key["token_limit"] == 9


@pytest.mark.parametrize("change", ["disabled", "deleted", "expired", "unknown"])
def test_the_read_with_the_model_refuses_a_key_that_may_not_be_used_now(services, change):
    issued = services.keys.create({"name": "soon refused"})
    services.keys.authenticate_with_model(issued.api_key, "openai/gpt-4o-mini")
    plaintext = issued.api_key
    if change == "disabled":
        services.keys.update(issued.id, {"is_active": False})
    elif change == "deleted":
        services.keys.delete(issued.id)
    elif change == "expired":
        services.keys.update(issued.id, {"expires_at": datetime.now(UTC) - timedelta(1)})
    else:
        plaintext = plaintext[:-4] + "0000"
    with pytest.raises(Unauthenticated):
        services.keys.authenticate_with_model(plaintext, "openai/gpt-4o-mini")

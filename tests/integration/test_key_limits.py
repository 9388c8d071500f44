"""An API key's own limits, on both backends (Redis slots, or database slots without Redis)."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from app.errors import Forbidden, LimitExceeded
from app.services.usage.service import UsageRecord


def key_record(services, **fields) -> dict:
    issued = services.keys.create({"name": "limited", **fields})
    return services.keys.authenticate(issued.api_key)


def test_a_key_may_use_only_its_permitted_providers(services):
    key = key_record(services, permissions=["claude", "gemini"])
    services.key_limits.admit(key, "claude").release()
    with pytest.raises(Forbidden) as refused:
        services.key_limits.admit(key, "openai")
    assert refused.value.code == "PROVIDER_NOT_ALLOWED"


def attempt(services, key):
    try:
        return services.key_limits.admit(key, "openai")
    except LimitExceeded as error:
        return error


def test_thirty_concurrent_requests_against_a_concurrency_limit_of_five_admit_five(services):
    key = key_record(services, concurrency_limit=5)
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: attempt(services, key), range(30)))
    admitted = [r for r in results if not isinstance(r, LimitExceeded)]
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert len(admitted) == 5 and len(refused) == 25
    assert {r.code for r in refused} == {"CONCURRENCY_LIMIT_EXCEEDED"}
    admitted[0].release()
    again = attempt(services, key)
    assert not isinstance(again, LimitExceeded)


def test_requests_per_minute_admit_exactly_the_limit_and_say_when_to_retry(services):
    key = key_record(services, requests_per_minute=7)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: attempt(services, key), range(20)))
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert len(refused) == 13
    assert {r.code for r in refused} == {"RATE_LIMIT_EXCEEDED"}
    assert all(0 < r.retry_after <= 60 for r in refused)


def test_a_refused_request_does_not_use_up_the_minute(services):
    key = key_record(services, requests_per_minute=3, concurrency_limit=1)
    held = services.key_limits.admit(key, "openai")
    for _ in range(5):
        assert attempt(services, key).code == "CONCURRENCY_LIMIT_EXCEEDED"
    held.release()
    assert not isinstance(attempt(services, key), LimitExceeded)


def test_the_token_limit_refuses_once_recorded_usage_reaches_it(services):
    key = key_record(services, token_limit=100)
    services.key_limits.admit(key, "openai").release()
    services.usage.record(UsageRecord(api_key_id=key["id"], model="m", input_tokens=60,
                                      output_tokens=40))
    with pytest.raises(LimitExceeded) as refused:
        services.key_limits.admit(key, "openai")
    assert refused.value.code == "TOKEN_LIMIT_EXCEEDED"


def test_the_daily_cost_limit_refuses_once_todays_cost_reaches_it(services):
    key = key_record(services, daily_cost_limit=Decimal("0.50"))
    services.usage.record(UsageRecord(api_key_id=key["id"], model="m", cost=Decimal("0.3")))
    services.key_limits.admit(key, "openai").release()
    services.usage.record(UsageRecord(api_key_id=key["id"], model="m", cost=Decimal("0.2")))
    with pytest.raises(LimitExceeded) as refused:
        services.key_limits.admit(key, "openai")
    assert refused.value.code == "DAILY_COST_LIMIT_EXCEEDED"

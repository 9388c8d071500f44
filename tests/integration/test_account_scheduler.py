"""AccountScheduler: choosing accounts, marking them from upstream answers, running totals."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app import services_of
from app.providers import ProviderError, close_shared_http_clients
from app.services.accounts.scheduler import NoAccountAvailable
from tests.providers.helpers import hello_request
from tests.support.accounts import api_key_body, stub_base_url, to_service
from tests.support.apps import make_app


@pytest.fixture(autouse=True)
def fresh_connection_pools():
    yield
    close_shared_http_clients()


def _create(services, body: dict) -> str:
    return services.accounts.create(to_service(body))["id"]


def _pick(services, provider="openai", **kwargs) -> str:
    with services.scheduler.acquire(provider, "model", **kwargs) as lease:
        return lease.account.id


def test_the_highest_priority_goes_first_and_equals_take_turns(services):
    first = _create(services, api_key_body(priority=90))
    second = _create(services, api_key_body(priority=90))
    low = _create(services, api_key_body(priority=10))
    picks = [_pick(services) for _ in range(4)]
    assert set(picks[:2]) == {first, second}
    assert picks[2:] == picks[:2]
    services.accounts.update_status(first, "inactive")
    services.accounts.update_status(second, "error", {"error_message": "revoked"})
    assert _pick(services) == low


def test_excluded_accounts_and_other_providers_are_never_picked(services):
    preferred = _create(services, api_key_body(priority=90))
    other = _create(services, api_key_body(priority=10))
    _create(services, api_key_body("gemini", priority=100))
    assert _pick(services) == preferred
    assert _pick(services, exclude={preferred}) == other
    with pytest.raises(NoAccountAvailable) as raised:
        services.scheduler.acquire("openai", "model", exclude={preferred, other})
    assert raised.value.code == "NO_ACCOUNT_AVAILABLE"
    assert raised.value.retry_after == 1


def test_a_rate_limited_account_rests_until_its_reset_then_returns_to_active(services):
    preferred = _create(services, api_key_body(priority=90))
    spare = _create(services, api_key_body(priority=10))
    now = datetime.now(UTC)
    assert services.scheduler.mark_rate_limited(preferred, now + timedelta(hours=1))
    assert _pick(services) == spare
    services.accounts.update_status(spare, "inactive")
    with pytest.raises(NoAccountAvailable) as raised:
        services.scheduler.acquire("openai")
    assert 3500 < raised.value.retry_after <= 3600
    services.accounts.update_status(spare, "active")
    assert services.scheduler.mark_rate_limited(preferred, now - timedelta(seconds=1))
    assert _pick(services) == preferred
    detail = services.accounts.detail(preferred)
    assert detail["status"] == "active"
    assert detail["rate_limit_status"] == {"remaining": None, "reset_at": None}


def test_a_rate_limit_does_not_override_an_admins_inactive(services):
    account = _create(services, api_key_body())
    services.accounts.update_status(account, "inactive")
    assert not services.scheduler.mark_rate_limited(account, datetime.now(UTC))
    assert services.accounts.detail(account)["status"] == "inactive"


def _rate_limit_headers(provider: str) -> dict:
    reset = datetime.now(UTC) + timedelta(seconds=120)
    if provider == "openai":
        return {"headers": {"x-ratelimit-remaining-tokens": "0",
                            "x-ratelimit-reset-tokens": "2m0s"}}
    if provider == "claude":
        return {"headers": {"anthropic-ratelimit-tokens-remaining": "0",
                            "anthropic-ratelimit-tokens-reset": reset.isoformat()}}
    return {"retryAfter": 120}  # Gemini says it in a RetryInfo detail


@pytest.mark.parametrize("provider", ["openai", "claude", "gemini"])
def test_a_429_marks_the_account_rate_limited_until_the_providers_reset(
        services, stub_upstream, provider):
    limited = _create(services, api_key_body(provider, priority=90,
                                             baseUrl=stub_base_url(provider, stub_upstream)))
    spare = _create(services, api_key_body(provider, priority=10,
                                           baseUrl=stub_base_url(provider, stub_upstream)))
    key = services.accounts.box.decrypt(services.accounts._get(limited).api_key_sealed)
    stub_upstream.set_behaviour(credential=key, status=429, **_rate_limit_headers(provider))
    before = datetime.now(UTC)

    lease = services.scheduler.acquire(provider, "model")
    assert lease.account.id == limited
    with lease, pytest.raises(ProviderError) as raised:
        services.accounts.client_for(lease.account).complete(hello_request())
    assert services.scheduler.report(limited, raised.value) is True

    detail = services.accounts.detail(limited)
    assert detail["status"] == "rate_limited"
    reset_at = detail["rate_limit_status"]["reset_at"]
    assert before + timedelta(seconds=100) <= reset_at <= before + timedelta(seconds=140)
    assert _pick(services, provider) == spare


def test_a_401_marks_the_account_error(services, stub_upstream):
    account = _create(services, api_key_body(baseUrl=stub_base_url("openai", stub_upstream)))
    stub_upstream.set_behaviour(status=401, message="Incorrect API key provided")
    with pytest.raises(ProviderError) as raised:
        services.accounts.client_for(account).complete(hello_request())
    assert services.scheduler.report(account, raised.value) is True
    detail = services.accounts.detail(account)
    assert detail["status"] == "error"
    assert "Incorrect API key provided" in detail["error_message"]


def test_a_bad_request_leaves_the_account_alone(services, stub_upstream):
    account = _create(services, api_key_body(baseUrl=stub_base_url("openai", stub_upstream)))
    stub_upstream.set_behaviour(status=400)
    with pytest.raises(ProviderError) as raised:
        services.accounts.client_for(account).complete(hello_request())
    assert services.scheduler.report(account, raised.value) is False
    assert services.accounts.detail(account)["status"] == "active"


def test_repeated_5xx_answers_start_a_cool_down_and_a_success_resets_the_count(
        services, stub_upstream):
    flaky = _create(services, api_key_body(priority=90,
                                           baseUrl=stub_base_url("openai", stub_upstream)))
    spare = _create(services, api_key_body(priority=10))
    stub_upstream.set_behaviour(status=500)
    client = services.accounts.client_for(flaky)

    def fail_once():
        with pytest.raises(ProviderError) as raised:
            client.complete(hello_request())
        services.scheduler.report(flaky, raised.value)

    fail_once()
    fail_once()
    services.scheduler.record_usage(flaky, 10)
    assert services.accounts._get(flaky).recent_failures == 0
    for _ in range(services.settings.account_failure_threshold):
        fail_once()
    detail = services.accounts.detail(flaky)
    assert detail["status"] == "active" and detail["cooldown_until"] > datetime.now(UTC)
    assert _pick(services) == spare


def test_usage_totals_stay_exact_under_concurrent_records(services):
    account = _create(services, api_key_body())
    threads = [threading.Thread(target=services.scheduler.record_usage,
                                args=(account, 10, Decimal("0.00012345")))
               for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert services.accounts.get(account)["usage_stats"] == {
        "total_requests": 20, "total_tokens": 200, "total_cost": Decimal("0.00246900")}
    assert services.accounts.get(account)["last_used_at"] is not None


def test_the_client_carries_the_accounts_key_base_url_and_socks5_proxy(services,
                                                                       stub_upstream):
    from tests.providers.local_proxies import Socks5Proxy

    with Socks5Proxy("dave", "p@ss word") as proxy:
        body = api_key_body("claude", baseUrl=stub_upstream.url, proxyConfig={
            "type": "socks5", "host": "127.0.0.1", "port": proxy.port,
            "username": "dave", "password": "p@ss word"})
        account = _create(services, body)
        result = services.accounts.client_for(account).complete(hello_request())
        close_shared_http_clients()
    assert result.usage.output_tokens > 0
    (request,) = stub_upstream.requests(format="anthropic")
    assert request["credential"] == body["apiKey"]
    assert proxy.tunnels == [("127.0.0.1", stub_upstream.port)]


def test_an_oauth_client_sends_the_access_token(services, stub_upstream):
    from tests.support.accounts import oauth_body

    body = oauth_body("gemini", baseUrl=stub_upstream.url)
    account = _create(services, body)
    services.accounts.client_for(account).complete(hello_request())
    (request,) = stub_upstream.requests(format="gemini")
    assert request["credential"] == body["oauthData"]["accessToken"]


def test_equals_take_turns_least_recently_picked_across_two_instances_while_leases_are_held(
        postgres_url, redis_server_url, redis_prefix, tmp_path):
    apps = [make_app(tmp_path / name, postgres_url, redis_server_url, redis_prefix)
            for name in ("a", "b")]
    try:
        one, other = (services_of(application) for application in apps)
        equals = {_create(one, api_key_body(priority=50)) for _ in range(3)}
        leases = [instance.scheduler.acquire("openai", "model")
                  for instance in (one, other, one, other, one, other)]
        picks = [lease.account.id for lease in leases]
        assert set(picks[:3]) == equals
        assert picks[3:] == picks[:3]
        for lease in leases:
            lease.release()
    finally:
        for application in apps:
            services_of(application).engine.dispose()

"""Upstream failures reach callers as one ProviderError shape, whatever the provider."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from app.providers import ProviderError, client_for
from tests.providers.helpers import PROVIDERS, hello_request


def complete_expecting_error(client) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        client.complete(hello_request())
    return raised.value


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "auth"),
        (403, "auth"),
        (400, "bad_request"),
        (404, "bad_request"),
        (422, "bad_request"),
        (500, "upstream_error"),
        (503, "upstream_error"),
    ],
)
def test_an_error_status_is_classified_and_keeps_the_providers_message(
    make_client, stub_upstream, provider, status, kind
):
    stub_upstream.set_behaviour(credential="broken", status=status, message="the stub says no")

    error = complete_expecting_error(make_client(provider, api_key="broken"))

    assert (error.kind, error.status, error.message) == (kind, status, "the stub says no")
    assert error.retry_after is None and error.reset_at is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limit_carries_when_to_retry(make_client, stub_upstream, provider):
    stub_upstream.set_behaviour(credential="limited", status=429, retryAfter=30)
    before = datetime.now(UTC)

    error = complete_expecting_error(make_client(provider, api_key="limited"))

    assert error.kind == "rate_limited"
    assert error.retry_after == 30
    assert before + timedelta(seconds=29) < error.reset_at < before + timedelta(seconds=32)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_prompt_over_the_providers_limit_is_the_requests_fault_not_the_accounts(
    make_client, stub_upstream, provider
):
    # OpenAI answers 429 "Request too large", Anthropic 413 request_too_large, Gemini 400.
    stub_upstream.set_behaviour(credential="small", maxInputTokens=2)

    error = complete_expecting_error(make_client(provider, api_key="small"))

    expected = "bad_request" if provider == "gemini" else "request_too_large"
    assert error.kind == expected, error
    assert error.retry_after is None and error.reset_at is None


@pytest.mark.parametrize("error_type", ["request_too_large", "invalid_request_error",
                                        "context_length_exceeded"])
@pytest.mark.parametrize("provider", ["openai", "claude"])
def test_a_429_naming_a_request_level_error_type_is_request_too_large(
    make_client, stub_upstream, provider, error_type
):
    stub_upstream.set_behaviour(credential="big", status=429, errorType=error_type,
                                retryAfter=30)

    error = complete_expecting_error(make_client(provider, api_key="big"))

    assert (error.kind, error.status) == ("request_too_large", 429)


def test_a_retry_after_http_date_is_understood(make_client, stub_upstream):
    when = (datetime.now(UTC) + timedelta(seconds=120)).replace(microsecond=0)
    headers = {"retry-after": format_datetime(when, usegmt=True)}
    stub_upstream.set_behaviour(credential="limited", status=429, headers=headers)

    error = complete_expecting_error(make_client("openai", api_key="limited"))

    assert error.reset_at == when
    assert 115 < error.retry_after <= 120


def test_anthropic_reset_headers_give_the_latest_exhausted_limit(make_client, stub_upstream):
    now = datetime.now(UTC).replace(microsecond=0)
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": (now + timedelta(seconds=20)).isoformat(),
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": (now + timedelta(seconds=50)).isoformat(),
        "anthropic-ratelimit-output-tokens-remaining": "8000",
        "anthropic-ratelimit-output-tokens-reset": (now + timedelta(seconds=90)).isoformat(),
    }
    stub_upstream.set_behaviour(credential="limited", status=429, headers=headers)

    error = complete_expecting_error(make_client("claude", api_key="limited"))

    assert error.reset_at == now + timedelta(seconds=50)
    assert 45 < error.retry_after <= 50


def test_openai_reset_durations_give_the_latest_reset(make_client, stub_upstream):
    headers = {"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "6m0s"}
    stub_upstream.set_behaviour(credential="limited", status=429, headers=headers)
    before = datetime.now(UTC)

    error = complete_expecting_error(make_client("openai", api_key="limited"))

    assert before + timedelta(seconds=359) < error.reset_at < before + timedelta(seconds=362)
    assert 359 < error.retry_after <= 360


def test_gemini_retry_info_in_the_body_gives_when_to_retry(make_client, stub_upstream):
    # Like Gemini itself, the stub sends no retry-after header here: only the body knows.
    stub_upstream.set_behaviour(credential="limited", status=429, retryAfter=34)

    before = datetime.now(UTC)

    error = complete_expecting_error(make_client("gemini", api_key="limited"))

    assert error.retry_after == 34
    assert before + timedelta(seconds=33) < error.reset_at < before + timedelta(seconds=36)


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_a_slow_upstream_times_out(make_client, stub_upstream, streamed):
    stub_upstream.set_behaviour(credential="slow", delay=2)
    client = make_client("claude", api_key="slow", read_timeout=0.2)

    with pytest.raises(ProviderError) as raised:
        client.stream(hello_request()) if streamed else client.complete(hello_request())

    assert raised.value.kind == "timeout"
    assert raised.value.status is None


def test_an_unreachable_upstream_is_a_connection_error():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]
    client = client_for("openai", api_key="k", base_url=f"http://127.0.0.1:{closed_port}/v1")

    error = complete_expecting_error(client)

    assert error.kind == "connection"


def test_a_behaviour_limited_in_times_lets_later_calls_through(make_client, stub_upstream):
    stub_upstream.set_behaviour(credential="flaky", status=500, times=2)
    client = make_client("openai", api_key="flaky")

    assert complete_expecting_error(client).kind == "upstream_error"
    assert complete_expecting_error(client).kind == "upstream_error"
    assert client.complete(hello_request()).text
    assert [entry["status"] for entry in stub_upstream.requests()] == [500, 500, 200]


def test_a_credential_that_cannot_travel_in_a_header_is_the_accounts_fault(make_client,
                                                                           stub_upstream):
    error = complete_expecting_error(make_client("openai", api_key="clé-✓"))

    assert error.kind == "auth"
    assert stub_upstream.requests() == []

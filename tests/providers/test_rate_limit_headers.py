"""Reading reset moments out of each provider's rate-limit headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.providers.rate_limits import parse_duration, parse_reset

NOW = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5s", 0.5)],
)
def test_openai_durations_are_read_as_seconds(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5", "1s later", "-1s"])
def test_text_that_is_not_a_duration_is_ignored(text):
    assert parse_duration(text) is None


def test_retry_after_seconds_set_both_the_delay_and_the_moment():
    assert parse_reset({"Retry-After": "12"}, NOW) == (12.0, NOW + timedelta(seconds=12))


def test_a_retry_after_date_in_the_past_means_retry_now():
    assert parse_reset({"retry-after": "Wed, 30 Apr 2025 12:00:00 GMT"}, NOW) == (0.0, NOW)


def test_only_exhausted_limits_count_when_one_is_exhausted():
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "10s",
        "x-ratelimit-remaining-tokens": "5000",
        "x-ratelimit-reset-tokens": "6m0s",
    }

    assert parse_reset(headers, NOW) == (10.0, NOW + timedelta(seconds=10))


def test_every_limit_counts_when_none_reads_exhausted():
    headers = {
        "anthropic-ratelimit-requests-remaining": "3",
        "anthropic-ratelimit-requests-reset": "2025-05-01T12:00:05Z",
        "anthropic-ratelimit-tokens-remaining": "10",
        "anthropic-ratelimit-tokens-reset": "2025-05-01T12:01:00Z",
    }

    assert parse_reset(headers, NOW) == (60.0, NOW + timedelta(seconds=60))


def test_retry_after_keeps_the_headers_advice_while_reset_at_takes_the_latest_reset():
    headers = {"retry-after": "5", "x-ratelimit-reset-tokens": "1m0s"}

    assert parse_reset(headers, NOW) == (5.0, NOW + timedelta(seconds=60))


def test_no_reset_headers_means_no_reset_information():
    assert parse_reset({"content-type": "application/json"}, NOW) == (None, None)

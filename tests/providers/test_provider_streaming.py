"""Streams relay events as they arrive, hang up on close, and fail loudly when cut short."""

from __future__ import annotations

import threading
import time

import pytest

from app.providers import ProviderError
from tests.providers.helpers import PROMPT_WORDS, PROVIDERS, hello_request


def wait_for(condition, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("provider", PROVIDERS)
def test_events_arrive_one_by_one_while_the_upstream_is_still_sending(
    make_client, stub_upstream, provider
):
    stub_upstream.set_behaviour(credential="slow", tokens=8, tokenDelay=0.06)
    started = time.monotonic()
    arrivals = []

    with make_client(provider, api_key="slow").stream(hello_request()) as stream:
        for event in stream:
            if event.text:
                arrivals.append(time.monotonic() - started)

    assert len(arrivals) == 8
    total = time.monotonic() - started
    assert total >= 8 * 0.06
    assert arrivals[0] < total / 3
    assert arrivals[-1] - arrivals[0] >= 6 * 0.06


@pytest.mark.parametrize("provider", PROVIDERS)
def test_closing_a_stream_midway_hangs_up_on_the_upstream(make_client, stub_upstream, provider):
    stub_upstream.set_behaviour(credential="long", tokens=200, tokenDelay=0.01)
    stream = make_client(provider, api_key="long").stream(hello_request())
    texts = []
    for event in stream:
        if event.text:
            texts.append(event.text)
        if len(texts) == 3:
            break
    stream.close()

    assert wait_for(lambda: stub_upstream.requests()[-1]["disconnected"])
    entry = stub_upstream.requests()[-1]
    assert not entry["completed"]
    assert entry["tokensSent"] < 50


def test_a_closed_stream_still_reports_the_usage_seen_so_far(make_client, stub_upstream):
    stub_upstream.set_behaviour(credential="long", tokens=200, tokenDelay=0.01)

    with make_client("claude", api_key="long").stream(hello_request()) as stream:
        next(event for event in stream if event.text)

    assert stream.closed
    assert stream.usage.input_tokens == PROMPT_WORDS
    assert stream.text == "The"
    assert list(stream) == []


@pytest.mark.parametrize(
    ("provider", "status", "kind"),
    [
        ("openai", 500, "upstream_error"),
        ("openai", 429, "rate_limited"),
        ("claude", 529, "upstream_error"),
        ("claude", 429, "rate_limited"),
        ("gemini", 503, "upstream_error"),
        ("gemini", 429, "rate_limited"),
    ],
)
def test_an_error_event_midway_raises_from_the_iterator(
    make_client, stub_upstream, provider, status, kind
):
    stub_upstream.set_behaviour(
        credential="flaky", status=status, failAfterTokens=3, message="overloaded, sorry"
    )
    stream = make_client(provider, api_key="flaky").stream(hello_request())
    texts = []

    with pytest.raises(ProviderError) as raised:
        for event in stream:
            texts.append(event.text)

    assert "".join(texts) == "The quick brown"
    assert raised.value.kind == kind
    assert raised.value.message == "overloaded, sorry"
    assert stream.closed


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_upstream_hanging_up_midway_raises_a_connection_error(
    make_client, stub_upstream, provider
):
    stub_upstream.set_behaviour(credential="dying", dropAfterTokens=2)
    stream = make_client(provider, api_key="dying").stream(hello_request())

    with pytest.raises(ProviderError) as raised:
        list(stream)

    assert raised.value.kind == "connection"
    assert stream.text == "The quick"


def test_an_upstream_going_silent_midway_raises_a_timeout(make_client, stub_upstream):
    stub_upstream.set_behaviour(credential="stalling", tokenDelay=2)
    stream = make_client("openai", api_key="stalling", read_timeout=0.2).stream(hello_request())

    with pytest.raises(ProviderError) as raised:
        list(stream)

    assert raised.value.kind == "timeout"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_error_before_the_first_byte_raises_when_opening_the_stream(
    make_client, stub_upstream, provider
):
    stub_upstream.set_behaviour(credential="limited", status=429, retryAfter=7)

    with pytest.raises(ProviderError) as raised:
        make_client(provider, api_key="limited").stream(hello_request())

    assert raised.value.kind == "rate_limited"
    assert raised.value.retry_after == 7


@pytest.mark.parametrize("provider", PROVIDERS)
def test_interrupting_from_another_thread_ends_a_read_waiting_on_a_silent_upstream(
    make_client, stub_upstream, provider
):
    stub_upstream.set_behaviour(credential="silent", tokens=3, tokenDelay=5)
    stream = make_client(provider, api_key="silent").stream(hello_request())
    ended = []

    def read() -> None:
        try:
            ended.append([event.text for event in stream])
        except ProviderError as error:  # a shutdown's cut is not the upstream's failure
            ended.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)  # the reader now waits for a token the upstream sends in 5 s
    interrupted = time.monotonic()
    stream.interrupt()
    reader.join(3)
    assert not reader.is_alive() and time.monotonic() - interrupted < 1.5
    assert isinstance(ended[0], list) and stream.closed

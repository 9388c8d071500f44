"""An account's proxy URL really carries its traffic, and each proxy gets its own pool."""

from __future__ import annotations

import gc
import threading
import time
import warnings

import pytest

from app.providers import ProviderError, client_for
from tests.providers.helpers import base_url_for, hello_request
from tests.providers.local_proxies import (
    GarbageProxy,
    HttpForwardProxy,
    SilentProxy,
    Socks5Proxy,
)


@pytest.mark.parametrize("proxy_class", [HttpForwardProxy, Socks5Proxy], ids=["http", "socks5"])
@pytest.mark.parametrize("provider", ["openai", "claude"])
def test_requests_and_streams_travel_through_the_accounts_proxy(
    stub_upstream, proxy_class, provider
):
    with proxy_class("relay", "s3cret") as proxy:
        client = client_for(
            provider, api_key="k", base_url=base_url_for(provider, stub_upstream), proxy=proxy.url
        )

        result = client.complete(hello_request())
        with client.stream(hello_request()) as stream:
            streamed = "".join(event.text for event in stream)

    assert result.text and streamed == result.text
    assert ("127.0.0.1", stub_upstream.port) in proxy.tunnels
    assert len(stub_upstream.requests()) == 2


@pytest.mark.parametrize("proxy_class", [HttpForwardProxy, Socks5Proxy], ids=["http", "socks5"])
def test_wrong_proxy_credentials_never_reach_the_upstream(stub_upstream, proxy_class):
    with proxy_class("relay", "s3cret") as proxy:
        wrong_url = proxy.url.replace("s3cret", "guess")
        client = client_for("claude", api_key="k", base_url=stub_upstream.url, proxy=wrong_url)

        with pytest.raises(ProviderError) as raised:
            client.complete(hello_request())

    kind = raised.value.kind
    # httpcore 1.0.9 does not close its socket when a SOCKS handshake fails; the traceback
    # keeps it alive, so free it before asserting rather than let its ResourceWarning land in
    # a later test (even when an assertion here fails).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del raised
        gc.collect()
    assert proxy.refused == 1
    assert stub_upstream.requests() == []
    assert kind == "connection"


def test_accounts_behind_the_same_proxy_share_one_http_client():
    first = client_for("openai", api_key="a", proxy="socks5://u:p@127.0.0.1:1080")
    second = client_for("gemini", api_key="b", proxy="socks5://u:p@127.0.0.1:1080")
    direct = client_for("openai", api_key="c")
    other = client_for("openai", api_key="d", proxy="http://127.0.0.1:3128")

    assert first.http is second.http
    assert len({id(first.http), id(direct.http), id(other.http)}) == 3


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_a_proxy_answering_garbage_is_a_connection_error_of_the_account(stub_upstream, scheme):
    with GarbageProxy(scheme) as proxy:
        client = client_for("openai", api_key="k", base_url=base_url_for("openai", stub_upstream),
                            proxy=proxy.url)
        with pytest.raises(ProviderError) as raised:
            client.complete(hello_request())

    assert raised.value.kind == "connection"
    assert proxy.connections >= 1 and stub_upstream.requests() == []


def test_a_silent_socks5_proxy_fails_within_the_connect_timeout(stub_upstream):
    outcome: dict = {}

    def call(client) -> None:
        started = time.monotonic()
        try:
            client.complete(hello_request())
        except ProviderError as error:
            outcome["kind"] = error.kind
        outcome["seconds"] = time.monotonic() - started

    with SilentProxy("socks5") as proxy:
        client = client_for("claude", api_key="k", base_url=stub_upstream.url, proxy=proxy.url,
                            connect_timeout=0.5, read_timeout=600)
        worker = threading.Thread(target=call, args=(client,), daemon=True)
        worker.start()
        worker.join(10)  # without a deadline the handshake would wait forever

    assert outcome.get("kind") == "timeout", outcome
    assert outcome["seconds"] < 3
    assert proxy.connections == 1 and stub_upstream.requests() == []


def test_an_account_whose_proxy_is_no_usable_address_fails_as_the_accounts_fault():
    with pytest.raises(ProviderError) as raised:
        client_for("openai", api_key="k", proxy="http://[ab:cd]:3128")

    assert raised.value.kind == "auth"

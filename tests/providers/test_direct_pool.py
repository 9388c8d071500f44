"""Accounts without a proxy reach their upstream through the direct pool: the request httpx would
write, every framing an answer may come in, connections kept alive and dropped as httpx's pool
does, TLS verified, and failures in httpx's exception types."""

from __future__ import annotations

import gzip
import json

import h11
import httpx
import pytest

from app.providers import ProviderError, client_for
from app.providers.direct_pool import DirectPool, request_head
from app.providers.http_pool import shared_direct_pool, shared_http_client
from tests.providers.helpers import hello_request
from tests.providers.scripted_upstream import (
    Answer,
    ScriptedUpstream,
    chunked,
    json_answer,
    self_signed_tls,
)

COMPLETION = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello back"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}).encode()
EVENTS = [b'data: {"choices":[{"index":0,"delta":{"content":"hel"}}]}\n\n',
          b'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n',
          b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n',
          b"data: [DONE]\n\n"]


def openai_client(upstream: ScriptedUpstream, **fields):
    fields.setdefault("api_key", "k")
    return client_for("openai", base_url=f"{upstream.url}/v1", **fields)


def streamed_text(client) -> tuple[str, int]:
    with client.stream(hello_request(stream=True)) as events:
        text = "".join(event.text for event in events)
        return text, events.usage.output_tokens


def connections(upstream: ScriptedUpstream) -> list[int]:
    return [number for number, _ in upstream.requests]


def test_the_request_bytes_are_the_ones_h11_writes_for_the_httpx_clients_request():
    client = shared_http_client(None)
    url = httpx.URL("https://upstream.example:8443/v1/messages?beta=true")
    body = b'{"a":1}'
    for headers in ({"Authorization": "Bearer t", "Content-Type": "application/json"},
                    {"user-agent": "claude-cli/2.0", "x-api-key": "k", "accept": "text/plain",
                     "Content-Type": "application/json"}):
        built = client.build_request("POST", url, content=body, headers=headers)
        writer = h11.Connection(h11.CLIENT)
        wire = writer.send(h11.Request(method="POST", target=built.url.raw_path,
                                       headers=built.headers.raw))
        wire += writer.send(h11.Data(data=body))

        assert request_head(shared_direct_pool().defaults, url, headers, len(body)) + body == wire


def test_an_account_without_a_proxy_uses_the_direct_pool_and_one_with_a_proxy_httpx():
    assert client_for("openai", api_key="k").direct is shared_direct_pool()
    assert client_for("openai", api_key="k", proxy="http://127.0.0.1:9").direct is None


def test_answers_reuse_one_kept_alive_connection_streamed_or_not():
    answers = [Answer(json_answer(COMPLETION)), Answer(chunked("HTTP/1.1 200 OK", EVENTS)),
               Answer(json_answer(COMPLETION))]
    with ScriptedUpstream(answers) as upstream:
        client = openai_client(upstream)

        assert client.complete(hello_request()).text == "hello back"
        assert streamed_text(client) == ("hello", 2)
        assert client.complete(hello_request()).text == "hello back"
        assert connections(upstream) == [0, 0, 0]


def test_a_chunked_answer_cut_anywhere_is_read_whole():
    pieces = [COMPLETION[i:i + 7] for i in range(0, len(COMPLETION), 7)]
    with ScriptedUpstream([Answer(chunked("HTTP/1.1 200 OK", pieces,
                                          "Content-Type: application/json"))]) as upstream:
        assert openai_client(upstream).complete(hello_request()).text == "hello back"


def test_an_answer_ending_at_the_connections_close_is_read_and_the_connection_not_reused():
    answers = [Answer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + COMPLETION,
                      hang_up=True),
               Answer(json_answer(COMPLETION))]
    with ScriptedUpstream(answers) as upstream:
        client = openai_client(upstream)

        assert client.complete(hello_request()).text == "hello back"
        assert client.complete(hello_request()).text == "hello back"
        assert connections(upstream) == [0, 1]


def test_a_connection_the_upstream_closed_while_idle_is_replaced_before_sending():
    # No `Connection: close`: the upstream just hangs up on the kept-alive connection. The
    # next request must go out once, on a fresh connection, and succeed.
    answers = [Answer(json_answer(COMPLETION), hang_up=True), Answer(json_answer(COMPLETION))]
    with ScriptedUpstream(answers) as upstream:
        client = openai_client(upstream)
        assert client.complete(hello_request()).text == "hello back"
        assert upstream.hung_up.wait(5)

        assert client.complete(hello_request()).text == "hello back"
        assert connections(upstream) == [0, 1]


def test_connection_close_in_the_answer_is_honoured():
    answers = [Answer(json_answer(COMPLETION, "Connection: close")),
               Answer(json_answer(COMPLETION))]
    with ScriptedUpstream(answers) as upstream:
        client = openai_client(upstream)
        client.complete(hello_request())
        client.complete(hello_request())

        assert connections(upstream) == [0, 1]


def test_a_stream_closed_before_its_end_does_not_give_its_connection_back():
    answers = [Answer(chunked("HTTP/1.1 200 OK", EVENTS)), Answer(json_answer(COMPLETION))]
    with ScriptedUpstream(answers) as upstream:
        client = openai_client(upstream)
        with client.stream(hello_request(stream=True)) as events:
            next(iter(events))

        assert client.complete(hello_request()).text == "hello back"
        assert connections(upstream) == [0, 1]


def test_compressed_answers_are_unpacked_as_httpx_unpacks_them():
    packed_events = gzip.compress(b"".join(EVENTS))
    answers = [Answer(json_answer(gzip.compress(COMPLETION), "Content-Encoding: gzip")),
               Answer(chunked("HTTP/1.1 200 OK", [packed_events[:9], packed_events[9:]],
                              "Content-Encoding: gzip"))]
    with ScriptedUpstream(answers) as upstream:
        client = openai_client(upstream)

        assert client.complete(hello_request()).text == "hello back"
        assert streamed_text(client) == ("hello", 2)
        assert connections(upstream) == [0, 0]


def test_an_interim_100_continue_is_skipped():
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + json_answer(COMPLETION)
    with ScriptedUpstream([Answer(answer)]) as upstream:
        assert openai_client(upstream).complete(hello_request()).text == "hello back"


def test_an_error_answer_keeps_its_status_headers_and_message():
    body = b'{"error":{"message":"slow down","type":"rate_limit_error"}}'
    answer = (b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
              b"Retry-After: 30\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    with ScriptedUpstream([Answer(answer), Answer(json_answer(COMPLETION))]) as upstream:
        client = openai_client(upstream)
        with pytest.raises(ProviderError) as raised:
            client.complete(hello_request())

        assert (raised.value.kind, raised.value.status) == ("rate_limited", 429)
        assert (raised.value.message, raised.value.retry_after) == ("slow down", 30)
        assert client.complete(hello_request()).text == "hello back"
        assert connections(upstream) == [0, 0]


@pytest.mark.parametrize("answer", [
    b"",  # hangs up without a byte
    b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"partial\":",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"par",
    b"HTTP/1.1 200 OK\r\nContent-Length: nonsense\r\n\r\n",
    b"NOT HTTP AT ALL\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
], ids=["nothing", "short-length", "unfinished-chunks", "bad-length", "garbage", "upgrade"])
def test_a_broken_or_cut_answer_is_a_connection_error(answer):
    with ScriptedUpstream([Answer(answer, hang_up=True)]) as upstream:
        with pytest.raises(ProviderError) as raised:
            openai_client(upstream).complete(hello_request())

        assert raised.value.kind == "connection"


def test_a_stream_cut_midway_ends_with_a_connection_error():
    cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
        b"%x\r\n%s\r\n" % (len(event), event) for event in EVENTS[:2])
    with ScriptedUpstream([Answer(cut, hang_up=True)]) as upstream:
        with pytest.raises(ProviderError) as raised:
            streamed_text(openai_client(upstream))

        assert raised.value.kind == "connection"


def test_a_header_value_that_would_smuggle_a_header_is_refused_before_sending():
    with ScriptedUpstream([]) as upstream:
        with pytest.raises(ProviderError) as raised:
            openai_client(upstream, api_key="k\r\nX-Injected: 1").complete(hello_request())

        assert raised.value.kind == "connection"
        assert upstream.requests == []


@pytest.mark.parametrize("value", ["cli\r\nX-Injected: 1", "cli\n", "cli\x00", "cli ", " cli",
                                   "cli\tv2 "])
def test_a_header_h11_would_refuse_fails_alike_through_httpx_and_directly(value):
    request = hello_request(headers={"user-agent": value})
    # Answers ready: a request that went out would be answered, and not raise.
    with ScriptedUpstream([Answer(json_answer(COMPLETION))] * 2) as upstream:
        for http in (None, shared_http_client(None)):
            with pytest.raises(ProviderError) as raised:
                openai_client(upstream, http=http).complete(request)

            assert raised.value.kind == "connection"
        assert upstream.requests == []


@pytest.mark.parametrize("value", ["", "cli  v2", "cli\tv2", "Mozilla/5.0 (X11; Linux)"])
def test_a_header_h11_would_write_is_written_as_is(value):
    with ScriptedUpstream([Answer(json_answer(COMPLETION))]) as upstream:
        openai_client(upstream).complete(hello_request(headers={"user-agent": value}))

        assert f"\r\nuser-agent: {value}\r\n".encode() in upstream.requests[0][1]


def test_a_silent_upstream_times_out_reading():
    with ScriptedUpstream([Answer(b"HTTP/1.1 200 OK\r\n")]) as upstream:
        with pytest.raises(ProviderError) as raised:
            openai_client(upstream, read_timeout=0.2).complete(hello_request())

        assert raised.value.kind == "timeout"


def test_a_pool_out_of_connections_times_out_waiting_for_one():
    pool = DirectPool(shared_direct_pool().ssl_context, shared_direct_pool().defaults,
                      max_connections=1, max_keepalive=1, keepalive_expiry=30)
    answers = [Answer(chunked("HTTP/1.1 200 OK", EVENTS))]
    with ScriptedUpstream(answers) as upstream:
        url = httpx.URL(f"{upstream.url}/v1/chat/completions")
        head = request_head(pool.defaults, url, {"Content-Type": "application/json"}, 2)
        held = pool.send(url, head, b"{}", (1, 1, 1, 0.1), stream=True)
        try:
            with pytest.raises(httpx.PoolTimeout):
                pool.send(url, head, b"{}", (1, 1, 1, 0.1), stream=False)
        finally:
            held.close()
            pool.close()


def test_tls_is_verified_against_the_bundle(tmp_path):
    server, _ = self_signed_tls(tmp_path)
    with ScriptedUpstream([], tls=server) as upstream:
        with pytest.raises(ProviderError) as raised:
            openai_client(upstream).complete(hello_request())

        assert raised.value.kind == "connection"
        assert "CERTIFICATE_VERIFY_FAILED" in raised.value.message


def test_a_trusted_tls_upstream_answers_on_a_kept_alive_connection(tmp_path):
    server, trusting = self_signed_tls(tmp_path)
    pool = DirectPool(trusting, shared_direct_pool().defaults, max_connections=10,
                      max_keepalive=10, keepalive_expiry=30)
    answers = [Answer(json_answer(COMPLETION)), Answer(chunked("HTTP/1.1 200 OK", EVENTS))]
    with ScriptedUpstream(answers, tls=server) as upstream:
        url = httpx.URL(f"{upstream.url}/v1/chat/completions")
        head = request_head(pool.defaults, url, {"Content-Type": "application/json"}, 2)
        try:
            assert pool.send(url, head, b"{}", (5, 5, 5, 5), stream=False).json() == json.loads(
                COMPLETION)
            streamed = pool.send(url, head, b"{}", (5, 5, 5, 5), stream=True)
            assert b"".join(streamed.iter_raw()) == b"".join(EVENTS)
        finally:
            pool.close()
        assert connections(upstream) == [0, 0]

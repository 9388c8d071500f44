"""An upstream's bytes become the same events however they are cut, and its request the same
bytes httpx's own client would send."""

from __future__ import annotations

import gzip

import httpx

from app.providers.http_pool import prepared_request, shared_http_client
from app.providers.openai import OpenAIEventParser
from app.providers.streaming import ProviderStream, SSEDecoder

# U+2028 and U+0085 end lines for str.splitlines, never for SSE; CR, LF and CRLF all do.
BODY = ('event: first\r\ndata: {"text":"caf\u00e9 \u2028 \u0085 \U0001f600"}\r\n\r\n'
        ": a comment\n"
        "data:no space\rdata:  two spaces\r\rid: 7\nretry: 10\n\n"
        "data\n\n"
        'data: {"last":true}').encode()
EVENTS = [("first", '{"text":"caf\u00e9 \u2028 \u0085 \U0001f600"}'),
          (None, "no space\n two spaces"), (None, ""), (None, '{"last":true}')]


def decoded(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


def test_events_are_the_same_wherever_the_body_is_cut():
    assert decoded([BODY]) == EVENTS
    assert decoded([BODY[i:i + 1] for i in range(len(BODY))]) == EVENTS
    for cut in range(len(BODY)):
        assert decoded([BODY[:cut], BODY[cut:]]) == EVENTS, cut


def test_bytes_that_are_not_utf8_become_replacement_characters():
    assert decoded([b"data: a\xffb\n\n"]) == [(None, "a\ufffdb")]


def test_a_compressed_stream_is_read_as_the_upstream_meant_it():
    body = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
    response = httpx.Response(200, headers={"content-encoding": "gzip"},
                              content=gzip.compress(body))

    events = list(ProviderStream(response, OpenAIEventParser()))

    assert [event.text for event in events] == ["hi", ""]
    assert events[-1].data == "[DONE]"


def test_the_upstream_request_is_the_one_the_httpx_client_would_build():
    client = shared_http_client(None)
    url = httpx.URL("https://upstream.example:8443/v1/messages?beta=true")
    timeout = httpx.Timeout(connect=3, read=30, write=30, pool=3)
    for headers in ({"Authorization": "Bearer t", "Content-Type": "application/json"},
                    {"user-agent": "claude-cli/2.0", "x-api-key": "k", "accept": "text/plain",
                     "Content-Type": "application/json"}):
        built = client.build_request("POST", url, content=b'{"a":1}', headers=headers,
                                     timeout=timeout)
        prepared = prepared_request(client, url, headers, b'{"a":1}', timeout.as_dict())

        assert prepared.headers.raw == built.headers.raw
        assert (prepared.method, prepared.url, prepared.extensions) == (
            built.method, built.url, built.extensions)
        assert prepared.read() == built.read()

"""The worker's plain-head parsing (app/serving/head.py) reads every head exactly as gunicorn's
own parser does: the same request, headers, body framing and leftover bytes, or the same
refusal; heads outside its shape are handed to gunicorn's parser."""

from __future__ import annotations

import pytest
from gunicorn.config import Config
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.serving.head import plain_head
from app.serving.worker import SessionHeaders


class GunicornOnly(SessionHeaders):
    """SessionHeaders as before plain heads: gunicorn's parser for every head."""

    def parse(self, unreader):
        return Request.parse(self, unreader)


def config(**changes) -> Config:
    cfg = Config()
    for name, value in changes.items():
        cfg.set(name, value)
    return cfg


def outcome(message_class, chunks: list[bytes], cfg: Config, peer=("127.0.0.1", 1)):
    """What a parser makes of the chunks: each request's parts, body and framing, then the bytes
    left; or the refusal (its type and text)."""
    parser = RequestParser(cfg, list(chunks), peer)
    parser.mesg_class = message_class
    requests = []
    try:
        for request in parser:
            body = request.body.read()
            requests.append((request.method, request.uri, request.path, request.query,
                             request.fragment, request.version, request.headers,
                             request.scheme, request._expected_100_continue,
                             type(request.body.reader).__name__, body, request.should_close()))
    except Exception as error:  # noqa: BLE001 (the refusal is the outcome compared)
        requests.append((type(error).__name__, str(error)))
    return requests


def same_outcome(raw: bytes | list[bytes], cfg: Config | None = None, peer=("127.0.0.1", 1)):
    chunks = raw if isinstance(raw, list) else [raw]
    cfg = cfg or Config()
    ours = outcome(SessionHeaders, chunks, cfg, peer)
    assert ours == outcome(GunicornOnly, chunks, cfg, peer)
    return ours


def is_plain(raw: bytes, cfg: Config | None = None) -> bool:
    cfg = cfg or Config()
    return plain_head(raw, line_limit=cfg.limit_request_line,
                      field_limit=cfg.limit_request_fields,
                      field_size_limit=cfg.limit_request_field_size,
                      scheme_headers=frozenset(cfg.secure_scheme_headers),
                      renamed=SessionHeaders.RENAMED) is not None


SDK_REQUEST = (b"POST /v1/chat/completions?api-version=1#frag HTTP/1.1\r\nHost: relaygate\r\n"
               b"Content-Type: application/json\r\nAuthorization: Bearer rg-x\r\n"
               b"User-Agent: OpenAI/Python 1.99.0\r\nX-Stainless-Lang:python\r\n"
               b"Accept:  application/json \t\r\nContent-Length: 11\r\n\r\n{\"a\": true}")


def test_an_sdk_request_is_read_plainly_with_gunicorns_parts_and_body():
    assert is_plain(SDK_REQUEST)
    [request] = same_outcome(SDK_REQUEST)
    assert request[:6] == ("POST", "/v1/chat/completions?api-version=1#frag",
                           "/v1/chat/completions", "api-version=1", "frag", (1, 1))
    assert ("ACCEPT", "application/json") in request[6]
    assert request[10] == b'{"a": true}'


def test_pipelined_requests_and_http_1_0_are_read_plainly_one_after_the_other():
    pipelined = (b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                 b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
                 b"GET / HTTP/1.0\r\n\r\n")
    assert is_plain(pipelined)
    answers = same_outcome(pipelined)
    assert [request[0] for request in answers] == ["GET", "POST", "GET"]
    assert answers[-1][5] == (1, 0) and answers[-1][-1] is True  # 1.0: closes
    same_outcome([pipelined[:20], pipelined[20:50], pipelined[50:]])  # split anywhere


def test_codexs_session_headers_are_renamed_on_the_plain_path_too():
    raw = (b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nsession_id: s-1\r\n"
           b"conversation_id: c-1\r\nContent-Length: 0\r\n\r\n")
    assert is_plain(raw)
    [request] = same_outcome(raw)
    assert ("SESSION-ID", "s-1") in request[6] and ("CONVERSATION-ID", "c-1") in request[6]


HANDED_TO_GUNICORN = {
    "an underscored name (dropped)": b"GET / HTTP/1.1\r\nX_Forwarded_For: 10.0.0.9\r\n\r\n",
    "Expect: 100-continue": (b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n"
                             b"Content-Length: 2\r\n\r\nok"),
    "an unknown expectation": b"POST / HTTP/1.1\r\nExpect: teapot\r\n\r\n",
    "a chunked body": (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2\r\nok\r\n0\r\n\r\n"),
    "an unknown transfer coding": b"POST / HTTP/1.1\r\nTransfer-Encoding: zstd\r\n\r\n",
    "a repeated Host": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "a repeated Content-Type": b"GET / HTTP/1.1\r\nContent-Type: a\r\ncontent-type: a\r\n\r\n",
    "a scheme header from a trusted peer": b"GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\n\r\n",
    "a leading empty line": b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "a bare LF in a field": b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
    "a bare LF ending the request line": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "a folded field": b"GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n",
    "a space before the colon": b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    "an empty name": b"GET / HTTP/1.1\r\n: a\r\n\r\n",
    "a control byte in a value": b"GET / HTTP/1.1\r\nX-A: b\x01c\r\n\r\n",
    "a NUL in a value": b"GET / HTTP/1.1\r\nX-A: b\x00c\r\n\r\n",
    "a DEL in a value": b"GET / HTTP/1.1\r\nX-A: b\x7fc\r\n\r\n",
    "a CR in a value": b"GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n",
    "a lower-case method": b"get / HTTP/1.1\r\n\r\n",
    "a two-letter method": b"GO / HTTP/1.1\r\n\r\n",
    "a method with a digit": b"GET2 / HTTP/1.1\r\n\r\n",
    "a path starting //": b"GET //evil/x?y HTTP/1.1\r\n\r\n",
    "an asterisk target": b"OPTIONS * HTTP/1.1\r\n\r\n",
    "an absolute target": b"GET http://a/b?c HTTP/1.1\r\n\r\n",
    "an authority target": b"CONNECT a:443 HTTP/1.1\r\n\r\n",
    "a target with a non-ASCII byte": b"GET /\xe9 HTTP/1.1\r\n\r\n",
    "two spaces in the request line": b"GET  / HTTP/1.1\r\n\r\n",
    "HTTP/2.0": b"GET / HTTP/2.0\r\n\r\n",
    "HTTP/1.2": b"GET / HTTP/1.2\r\n\r\n",
    "a lower-case version": b"GET / http/1.1\r\n\r\n",
    "no version": b"GET /\r\n\r\n",
    "an incomplete head": b"GET / HTTP/1.1\r\nHost: a\r\n",
}


@pytest.mark.parametrize("raw", HANDED_TO_GUNICORN.values(), ids=HANDED_TO_GUNICORN.keys())
def test_heads_outside_the_plain_shape_are_gunicorns_to_read_or_refuse(raw):
    assert not is_plain(raw)
    same_outcome(raw)
    same_outcome([raw[:9], raw[9:]])


REFUSED_AS_GUNICORN_DOES = {
    "a repeated Content-Length": (b"POST / HTTP/1.1\r\nContent-Length: 1\r\n"
                                  b"Content-Length: 1\r\n\r\nx"),
    "a Content-Length that is no number": b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
    "a negative Content-Length": b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
}


@pytest.mark.parametrize("raw", REFUSED_AS_GUNICORN_DOES.values(),
                         ids=REFUSED_AS_GUNICORN_DOES.keys())
def test_a_plain_head_with_bad_framing_is_refused_by_gunicorns_body_rules(raw):
    assert is_plain(raw)
    [(refusal, _)] = same_outcome(raw)
    assert refusal == "InvalidHeader"


def test_the_limits_on_the_request_line_fields_and_field_size_are_gunicorns():
    cfg = config(limit_request_line=20, limit_request_fields=2, limit_request_field_size=20)
    for raw, refusal in ((b"GET /" + b"a" * 20 + b" HTTP/1.1\r\n\r\n", "LimitRequestLine"),
                         (b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                          "LimitRequestHeaders"),
                         (b"GET / HTTP/1.1\r\nA: " + b"x" * 20 + b"\r\n\r\n",
                          "LimitRequestHeaders")):
        assert not is_plain(raw, cfg)
        assert same_outcome(raw, cfg)[0][0] == refusal
    at_the_limits = b"GET /" + b"a" * 6 + b" HTTP/1.1\r\nA: 1\r\nB: " + b"x" * 15 + b"\r\n\r\n"
    assert is_plain(at_the_limits, cfg)
    assert same_outcome(at_the_limits, cfg)[0][0] == "GET"


def test_scheme_headers_and_underscores_keep_gunicorns_rules_for_untrusted_peers_too():
    for raw in (b"GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\n\r\n",
                b"GET / HTTP/1.1\r\nX_Forwarded_For: 10.0.0.9\r\n\r\n"):
        same_outcome(raw, peer=("203.0.113.9", 1))
        same_outcome(raw, config(header_map="refuse"))


def test_obs_text_in_a_value_is_kept_as_gunicorn_decodes_it():
    raw = b"GET / HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n"
    assert is_plain(raw)
    assert ("X-NAME", "caf\xe9") in same_outcome(raw)[0][6]


LINES = [b"Host: a", b"Host: b", b"content-length: 3", b"Content-Length: 03",
         b"Content-Length: x", b"Transfer-Encoding: chunked", b"Expect: 100-continue",
         b"X-Forwarded-Proto: https", b"X_Y: z", b"session_id: s", b"Connection: close",
         b"Connection: keep-alive", b"X-A:", b"X-A: \t v \t", b" folded", b"bad line",
         b"X-B: \xe9", b"X-C: \x01", b"Content-Type: application/json", b"\xe9: x", b""]
STARTS = [b"GET / HTTP/1.1", b"POST /v1/chat/completions?x=1 HTTP/1.1", b"GET / HTTP/1.0",
          b"PUT /a#b HTTP/1.1", b"get / HTTP/1.1", b"GET //a HTTP/1.1", b"GET * HTTP/1.1",
          b"GET / HTTP/1.1 ", b"DELETE /%00 HTTP/1.1"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from(STARTS), lines=st.lists(st.sampled_from(LINES), max_size=6),
       body=st.sampled_from([b"", b"abc", b"GET / HTTP/1.1\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n"]),
       separator=st.sampled_from([b"\r\n", b"\n"]), cut=st.integers(0, 200))
def test_any_mix_of_plain_and_odd_lines_reads_as_gunicorn_reads_it(start, lines, body,
                                                                     separator, cut):
    raw = separator.join([start, *lines]) + b"\r\n\r\n" + body
    same_outcome(raw)
    if 0 < cut < len(raw):
        same_outcome([raw[:cut], raw[cut:]])

"""The stub upstream itself: its control endpoints, OAuth token endpoint, load and CLI."""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.stub_upstream import reply_tokens

STUB_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stub_upstream.py"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # One client for the module's raw calls: building one per call costs a CA bundle load.
    with httpx.Client(timeout=5) as client:
        yield client


def chat(http, stub, credential: str = "k", **body) -> httpx.Response:
    payload = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    headers = {"Authorization": f"Bearer {credential}"}
    return http.post(f"{stub.url}/v1/chat/completions", json=payload, headers=headers)


def test_behaviours_set_over_http_apply_per_credential_and_reset_clears_them(http, stub_upstream):
    answer = http.post(
        f"{stub_upstream.url}/__stub/behaviour",
        json=[{"credential": "bad", "status": 401}, {"credential": "slow", "delay": 0.01}],
    )
    assert answer.json() == {"ok": True}

    assert chat(http, stub_upstream, "bad").status_code == 401
    assert chat(http, stub_upstream, "good").status_code == 200
    http.post(f"{stub_upstream.url}/__stub/reset")
    assert chat(http, stub_upstream, "bad").status_code == 200
    assert len(http.get(f"{stub_upstream.url}/__stub/requests").json()) == 1


def test_a_behaviour_without_credential_applies_to_every_credential(http, stub_upstream):
    stub_upstream.set_behaviour(status=503, times=2)

    statuses = [chat(http, stub_upstream, name).status_code for name in ("a", "b", "c")]

    assert statuses == [503, 503, 200]


def test_misspelt_behaviour_fields_are_refused(http, stub_upstream):
    answer = http.post(f"{stub_upstream.url}/__stub/behaviour", json={"stauts": 429})

    assert answer.status_code == 400
    assert "stauts" in answer.json()["error"]


def test_the_request_log_tells_path_credential_model_and_stream(http, stub_upstream):
    chat(http, stub_upstream, "key-1", model="gpt-test", stream=True)

    (entry,) = http.get(f"{stub_upstream.url}/__stub/requests").json()

    assert entry["path"] == "/v1/chat/completions"
    assert (entry["credential"], entry["model"], entry["stream"]) == ("key-1", "gpt-test", True)
    assert entry["completed"] and entry["tokensSent"] == 12
    assert abs(entry["time"] - time.time()) < 5


def test_the_reply_length_follows_the_behaviour_and_is_capped_by_max_tokens(http, stub_upstream):
    stub_upstream.set_behaviour(credential="long", tokens=30)

    long_reply = chat(http, stub_upstream, "long").json()
    capped_reply = chat(http, stub_upstream, "long", max_tokens=4).json()

    assert long_reply["choices"][0]["message"]["content"] == "".join(reply_tokens(30))
    assert capped_reply["usage"]["completion_tokens"] == 4


def test_gemini_keys_are_also_read_from_the_query_string(http, stub_upstream):
    http.post(
        f"{stub_upstream.url}/v1beta/models/gemini-x:generateContent?key=query-key",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )

    assert stub_upstream.requests()[-1]["credential"] == "query-key"


@pytest.mark.parametrize("body, problem", [
    ({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "model": "x"}, '"model"'),
    ({"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}, "contents[0].role"),
    ({"contents": [{"role": "user", "parts": [{"text": "a", "inlineData": {}}]}]},
     "contents[0].parts[0]"),
    ({"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f",
                                                                    "response": "x"}}]}]},
     "functionResponse")])
def test_a_body_that_is_no_valid_gemini_request_gets_geminis_400(http, stub_upstream, body,
                                                                  problem):
    answer = http.post(f"{stub_upstream.url}/v1beta/models/gemini-x:generateContent?key=k",
                       json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert problem in answer.json()["error"]["message"]
    assert problem in stub_upstream.requests()[-1]["problem"]


def test_gemini_answers_a_call_whole_after_signed_thoughts_with_thoughts_counted_apart(
        http, stub_upstream):
    stub_upstream.set_behaviour(toolCall="lookup", thinking="mull it over", tokens=3,
                                cacheReadTokens=5, times=1)
    body = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}],
            "generationConfig": {"candidateCount": 2}}
    answer = http.post(f"{stub_upstream.url}/v1beta/models/gemini-x:generateContent?key=k",
                       json=body).json()
    assert [candidate["index"] for candidate in answer["candidates"]] == [0, 1]
    thought, call = answer["candidates"][0]["content"]["parts"]
    assert thought["thought"] is True and thought["text"] == "mull it over"
    assert call["functionCall"] == {"name": "lookup", "args": {"q": "".join(reply_tokens(3))}}
    assert thought["thoughtSignature"] == call["thoughtSignature"]
    assert answer["usageMetadata"] == {
        "promptTokenCount": 2 + 5, "candidatesTokenCount": 3 * 2, "thoughtsTokenCount": 3,
        "cachedContentTokenCount": 5, "totalTokenCount": 7 + 6 + 3}


def refresh(http, stub, refresh_token: str, *, as_json: bool = False, **fields) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **fields}
    if as_json:
        return http.post(f"{stub.url}/oauth/token", json=form)
    return http.post(f"{stub.url}/oauth/token", data=form)


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_a_refresh_token_is_exchanged_for_fresh_tokens(http, stub_upstream, as_json):
    answer = refresh(http, stub_upstream, "rt-seed", as_json=as_json, client_id="relaygate")

    tokens = answer.json()
    assert answer.status_code == 200
    assert set(tokens) == {"access_token", "refresh_token", "expires_in", "token_type", "scope"}
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert (
        refresh(http, stub_upstream, tokens["refresh_token"]).json()["access_token"]
        != (tokens["access_token"])
    )
    entry = stub_upstream.requests()[0]
    assert (entry["path"], entry["credential"], entry["clientId"]) == (
        "/oauth/token",
        "rt-seed",
        "relaygate",
    )


def test_a_refresh_token_can_be_used_only_once(http, stub_upstream):
    refresh(http, stub_upstream, "rt-seed")

    answer = refresh(http, stub_upstream, "rt-seed")

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_the_token_endpoint_can_be_told_to_reject_a_refresh_token(http, stub_upstream):
    stub_upstream.set_behaviour(refreshToken="rt-revoked", status=400, message="revoked")

    answer = refresh(http, stub_upstream, "rt-revoked")

    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "revoked"}
    assert refresh(http, stub_upstream, "rt-other").status_code == 200


def test_the_token_endpoint_can_be_told_to_be_slow(http, stub_upstream):
    stub_upstream.set_behaviour(refreshToken="rt-slow", delay=0.3)
    started = time.monotonic()

    answer = refresh(http, stub_upstream, "rt-slow")

    assert answer.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_other_grant_types_are_refused(http, stub_upstream):
    answer = http.post(f"{stub_upstream.url}/oauth/token", data={"grant_type": "password"})

    assert answer.json()["error"] == "unsupported_grant_type"


def test_five_hundred_streams_are_held_open_at_once(stub_upstream):
    stub_upstream.set_behaviour(tokens=5, tokenDelay=0.2)
    body = b'{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: stub\r\nAuthorization: Bearer load\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    started = time.monotonic()
    received = read_all_at_once([request] * 500, stub_upstream.port, timeout=20)

    assert all(answer.endswith(b"0\r\n\r\n") and b"[DONE]" in answer for answer in received)
    # Five 0.2 s tokens each: one at a time this would take 500 s.
    assert time.monotonic() - started < 10
    assert sum(entry["completed"] for entry in stub_upstream.requests()) == 500


def read_all_at_once(requests: list[bytes], port: int, timeout: float) -> list[bytes]:
    """Send every request on its own connection at once; each answer, read until it closes."""
    answers: dict[socket.socket, bytearray] = {}
    with selectors.DefaultSelector() as selector:
        for request in requests:
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
            answers[sock] = bytearray()
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                data = key.fileobj.recv(65536)
                answers[key.fileobj] += data
                if not data:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
    for sock in answers:
        sock.close()
    return [bytes(answer) for answer in answers.values()]


def test_the_command_line_serves_until_interrupted():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    command = [sys.executable, str(STUB_SCRIPT), "--port", str(port), "--token-delay", "0.01"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout.readline().strip().endswith(f"127.0.0.1:{port}")
            answer = httpx.post(
                f"http://127.0.0.1:{port}/v1/messages",
                json={"model": "m", "max_tokens": 3, "messages": []},
                headers={"x-api-key": "k"},
            )
            assert answer.json()["content"][0]["text"] == "The quick brown"
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=5) == 0


def test_json_arguments_make_an_openai_tool_call_a_json_object_streamed_a_word_a_chunk(
        http, stub_upstream):
    stub_upstream.set_behaviour(toolCall="lookup", jsonArguments=True)
    whole = chat(http, stub_upstream).json()["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(whole["function"]["arguments"]) == {"q": "".join(reply_tokens(12))}
    streamed = chat(http, stub_upstream, stream=True).text
    pieces = [json.loads(line[6:])["choices"][0]["delta"]["tool_calls"][0]["function"]
              ["arguments"] for line in streamed.splitlines()
              if line.startswith("data: {") and '"arguments"' in line]
    assert "".join(pieces) == whole["function"]["arguments"] and len(pieces) == 13

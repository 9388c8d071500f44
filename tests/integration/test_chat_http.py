"""The chat routes over real HTTP: chunk-by-chunk streaming, disconnects, the openai package,
and write-behind records surviving a killed worker."""

import socket
import threading
import time

import httpx
import openai
import pytest

from app import services_of
from app.services.usage.queue import GROUP
from tests.api.chat_support import BODY, MODEL, add_account, key_usage
from tests.support.apps import login_headers, make_app
from tests.support.http import ServerThread
from tests.support.servers import free_port


@pytest.fixture
def served(app, stub_upstream):
    headers = login_headers(app)
    client = app.test_client()
    add_account(client, headers, stub_upstream, "acct-slow")
    key = client.post("/api/keys", json={"name": "http"}, headers=headers).json["data"]
    with ServerThread(app, free_port()) as server:
        yield server, client, headers, key


def wait_for(predicate, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_the_first_chunk_reaches_the_client_before_the_upstream_has_finished(served,
                                                                            stub_upstream):
    server, _, _, key = served
    stub_upstream.set_behaviour(credential="acct-slow", tokenDelay=0.15)
    with httpx.stream("POST", f"{server.url}/api/ai/chat-fast?model={MODEL}", json=BODY,
                      headers={"x-api-key": key["apiKey"]}, timeout=30) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        first = next(lines)
        assert first.startswith("data: ")
        upstream_now = stub_upstream.requests()[0]
        assert upstream_now["completed"] is False  # still streaming while we already have data
        rest = "".join(lines)
    assert "event: usage" in rest


def test_a_client_disconnect_closes_the_upstream_and_records_the_usage_so_far(served,
                                                                             stub_upstream):
    server, client, headers, key = served
    stub_upstream.set_behaviour(credential="acct-slow", tokenDelay=0.2, tokens=40)
    with httpx.stream("POST", f"{server.url}/api/ai/chat?model={MODEL}", json=BODY,
                      headers={"x-api-key": key["apiKey"]}, timeout=30) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]
    assert sum(1 for line in received if line.startswith("data:")) >= 2
    usage = wait_for(lambda: (u := key_usage(client, headers, key["id"]))["totalRequests"] and u)
    assert 0 < usage["totalOutputTokens"] < 40
    log = wait_for(lambda: stub_upstream.requests()[0]["disconnected"] and stub_upstream.requests())
    assert log[0]["tokensSent"] < 40


def test_the_openai_package_works_against_v1_chat_completions(served):
    server, client, headers, key = served
    sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key["apiKey"], max_retries=0)
    answer = sdk.chat.completions.create(model=MODEL,
                                         messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content.startswith("The quick brown fox")
    assert answer.usage.completion_tokens == 12
    chunks = list(sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}], stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == answer.choices[0].message.content
    queue = services_of(client.application).usage_queue
    if queue is not None:  # the route runs chat-fast: with Redis, usage is stored behind
        queue.drain_once("tests")
    assert key_usage(client, headers, key["id"])["totalRequests"] == 2
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="rg_wrong", max_retries=0
                      ).chat.completions.create(model=MODEL, messages=[{"role": "user",
                                                                        "content": "x"}])


def test_queued_records_survive_a_killed_worker(postgres_url, redis_server_url, redis_prefix,
                                                tmp_path, stub_upstream):
    app = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix,
                   usage_claim_idle_ms=0)
    headers = login_headers(app)
    client = app.test_client()
    add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "fast"}, headers=headers).json["data"]
    for _ in range(5):
        response = client.post(f"/api/ai/chat-fast?model={MODEL}",
                               json={**BODY, "stream": False},
                               headers={"x-api-key": key["apiKey"]})
        assert response.status_code == 200
    assert key_usage(client, headers, key["id"])["totalRequests"] == 0  # all still queued
    queue = services_of(app).usage_queue
    # A worker takes the whole batch and dies before acknowledging any of it.
    taken = queue.client.xreadgroup(GROUP, "doomed-worker", {queue.stream: ">"}, count=100)
    assert len(taken[0][1]) == 5
    queue.drain_once("restarted-worker")
    assert key_usage(client, headers, key["id"])["totalRequests"] == 5
    queue.drain_once("restarted-worker")
    assert key_usage(client, headers, key["id"])["totalRequests"] == 5
    services_of(app).engine.dispose()


def test_a_stream_closed_before_its_first_event_still_settles_the_request(app, stub_upstream):
    services = services_of(app)
    headers = login_headers(app)
    client = app.test_client()
    add_account(client, headers, stub_upstream, "acct-a")
    key = client.post("/api/keys", json={"name": "early", "concurrencyLimit": 1},
                      headers=headers).json["data"]
    credential = services.auth.credential(authorization=None, x_api_key=key["apiKey"])
    answer = services.chat.run(credential, MODEL, dict(BODY), mode="chat")
    answer.stream.close()  # what the server does when the client is gone before any byte
    assert key_usage(client, headers, key["id"])["totalRequests"] == 1
    again = services.chat.run(credential, MODEL, {**BODY, "stream": False}, mode="chat")
    assert again.body["content"]  # the key's one concurrency slot was given back


class HangUp:
    """A TCP server that accepts each connection and closes it at once, counting them."""

    def __init__(self):
        self.accepted = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self):
        self._server.close()


@pytest.mark.parametrize("route", ["chat", "chat-fast"])
def test_a_broken_connection_is_tried_once_more_then_the_next_account_serves(
        client, admin_headers, make_key, stub_upstream, route):
    hang_up = HangUp()
    try:
        add_account(client, admin_headers, stub_upstream, "acct-broken", priority=90,
                    baseUrl=f"http://127.0.0.1:{hang_up.port}/v1")
        add_account(client, admin_headers, stub_upstream, "acct-spare", priority=10)
        key = make_key()
        response = client.post(f"/api/ai/{route}?model={MODEL}", json={**BODY, "stream": False},
                               headers={"x-api-key": key["apiKey"]})
        assert response.status_code == 200, response.json
        assert hang_up.accepted == 2  # the same account once more, then the next one
        assert [r["credential"] for r in stub_upstream.requests()] == ["acct-spare"]
    finally:
        hang_up.close()

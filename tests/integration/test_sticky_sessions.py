"""Sticky sessions over real HTTP (openai SDK on /v1/chat/completions, httpx on chat-fast): one
conversation stays on one account, different ones spread, and the binding moves at once when
its account is rate-limited or deactivated. SQLite is the database-only case, PostgreSQL the
one with Redis."""

import time

import httpx
import openai
import pytest

from app import services_of
from tests.api.chat_support import MODEL, add_account
from tests.support.http import ServerThread
from tests.support.servers import free_port

HELLO = [{"role": "user", "content": "hello"}]
CREDENTIALS = ("acct-s1", "acct-s2", "acct-s3")


@pytest.fixture
def served(app, client, admin_headers, stub_upstream, make_key):
    accounts = {c: add_account(client, admin_headers, stub_upstream, c) for c in CREDENTIALS}
    key = make_key()
    with ServerThread(app, free_port()) as server:
        sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key["apiKey"], max_retries=0)
        yield sdk, server, key, accounts


def ask(sdk, session: str, **extra) -> None:
    sdk.chat.completions.create(model=MODEL, messages=HELLO,
                                extra_headers={"x-session-id": session}, **extra)


def served_by(stub, since: int = 0) -> list[str]:
    """The credential (account) that answered each upstream request, from the `since`-th on."""
    return [entry["credential"] for entry in stub.requests()[since:]]


def test_one_session_stays_on_one_account_while_different_sessions_spread(served,
                                                                        stub_upstream):
    sdk, _, _, _ = served
    for _ in range(6):
        ask(sdk, "conversation-a")
    assert len(set(served_by(stub_upstream))) == 1
    sessions = [f"conversation-{n}" for n in range(6)]
    before = len(stub_upstream.requests())
    for session in sessions:
        ask(sdk, session)
    first = served_by(stub_upstream, before)
    assert set(first) == set(CREDENTIALS)  # new sessions spread over the equal accounts
    before = len(stub_upstream.requests())
    for session in reversed(sessions):
        ask(sdk, session)
    assert served_by(stub_upstream, before) == list(reversed(first))


def test_the_prompt_cache_key_and_the_prompt_itself_name_a_session_too(served, stub_upstream):
    sdk, _, _, _ = served
    for _ in range(4):
        sdk.chat.completions.create(model=MODEL, messages=HELLO,
                                    extra_body={"prompt_cache_key": "pck-1"})
    for _ in range(4):
        sdk.chat.completions.create(model=MODEL, messages=[
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "topic"}])
    answered = served_by(stub_upstream)
    assert len(set(answered[:4])) == 1 and len(set(answered[4:])) == 1


def test_the_binding_moves_at_once_when_its_account_is_rate_limited(served, stub_upstream):
    sdk, _, _, _ = served
    ask(sdk, "conversation-r")
    bound = served_by(stub_upstream)[0]
    stub_upstream.set_behaviour(credential=bound, status=429, times=1, retryAfter=30)
    before = len(stub_upstream.requests())
    ask(sdk, "conversation-r")  # the bound account refuses; another answers at once
    moved = served_by(stub_upstream, before)
    assert moved[0] == bound and moved[-1] != bound
    before = len(stub_upstream.requests())
    for _ in range(4):  # two equal accounts are left: without the move these would alternate
        ask(sdk, "conversation-r")
    assert served_by(stub_upstream, before) == [moved[-1]] * 4


def test_the_binding_moves_when_its_account_is_deactivated_and_stays_moved(
        served, client, admin_headers, stub_upstream):
    sdk, _, _, accounts = served
    ask(sdk, "conversation-d")
    bound = served_by(stub_upstream)[0]
    status_url = f"/api/accounts/{accounts[bound]['id']}/status"
    changed = client.post(status_url, json={"status": "inactive"}, headers=admin_headers)
    assert changed.status_code == 200, changed.json
    before = len(stub_upstream.requests())
    for _ in range(3):
        ask(sdk, "conversation-d")
    now_on = served_by(stub_upstream, before)
    assert len(set(now_on)) == 1 and now_on[0] != bound
    assert client.post(status_url, json={"status": "active"},
                       headers=admin_headers).status_code == 200
    before = len(stub_upstream.requests())
    for _ in range(3):
        ask(sdk, "conversation-d")
    assert served_by(stub_upstream, before) == now_on


def test_chat_fast_keeps_a_session_on_one_account_and_spreads_others(served, stub_upstream):
    _, server, key, _ = served
    url = f"{server.url}/api/ai/chat-fast?model={MODEL}"

    def fast(session: str) -> None:
        answer = httpx.post(url, json={"messages": HELLO, "stream": False}, timeout=30,
                            headers={"x-api-key": key["apiKey"], "x-session-id": session})
        assert answer.status_code == 200, answer.text

    for _ in range(5):
        fast("fast-a")
    assert len(set(served_by(stub_upstream))) == 1
    before = len(stub_upstream.requests())
    for n in range(6):
        fast(f"fast-{n}")
    assert len(set(served_by(stub_upstream, before))) >= 2


def test_a_binding_expires_after_its_ttl_unless_used(app_config, tmp_path):
    from tests.support.apps import make_app

    app = make_app(tmp_path, **app_config, sticky_session_ttl_seconds=1)
    try:
        sticky = services_of(app).chat.sticky
        binding = sticky.binding("key-1", "session:s")
        assert binding.account_id is None
        binding.keep("account-1")
        assert sticky.binding("key-1", "session:s").account_id == "account-1"
        assert sticky.binding("key-2", "session:s").account_id is None  # per API key
        time.sleep(1.3)
        assert sticky.binding("key-1", "session:s").account_id is None
    finally:
        services_of(app).engine.dispose()


def test_every_worker_sees_a_binding_another_made(app_config, tmp_path):
    from tests.support.apps import make_app

    first, second = (make_app(tmp_path, **app_config) for _ in range(2))
    try:
        binding = services_of(first).chat.sticky.binding("key-w", "session:w")
        binding.keep("account-w")
        other = services_of(second).chat.sticky.binding("key-w", "session:w")
        assert other.account_id == "account-w"
    finally:
        for application in (first, second):
            services_of(application).engine.dispose()


def test_with_redis_down_bindings_live_in_the_database(postgres_url, private_redis, tmp_path):
    from tests.support.apps import make_app

    app = make_app(tmp_path, postgres_url, private_redis.url, "rg-sticky:")
    try:
        sticky = services_of(app).chat.sticky
        private_redis.stop()
        sticky.binding("key-d", "session:d").keep("account-d")
        assert sticky.binding("key-d", "session:d").account_id == "account-d"
    finally:
        services_of(app).engine.dispose()


def codex(sdk, conversation: str, **headers) -> None:
    """A Codex CLI turn: Responses, its conversation id as prompt_cache_key and headers."""
    sdk.responses.create(model=MODEL, instructions="You are Codex.", input="hello",
                         store=False, prompt_cache_key=conversation,
                         extra_headers={"session_id": conversation,
                                        "conversation_id": conversation, **headers})


def test_a_codex_conversation_on_the_responses_route_stays_on_one_account(served,
                                                                         stub_upstream):
    sdk, _, _, _ = served
    for _ in range(5):
        codex(sdk, "codex-a")
    assert len(set(served_by(stub_upstream))) == 1
    before = len(stub_upstream.requests())
    conversations = [f"codex-{n}" for n in range(6)]
    for conversation in conversations:
        codex(sdk, conversation)
    first = served_by(stub_upstream, before)
    assert set(first) == set(CREDENTIALS)
    before = len(stub_upstream.requests())
    for conversation in reversed(conversations):
        codex(sdk, conversation)
    assert served_by(stub_upstream, before) == list(reversed(first))


def test_codexs_session_header_as_a_server_maps_it_names_the_session_alone(served,
                                                                          stub_upstream):
    sdk, _, _, _ = served
    for n in range(6):  # a different prompt each time: only the header ties them
        sdk.responses.create(model=MODEL, input=f"question {n}",
                             extra_headers={"Session-Id": "codex-h"})
    assert len(set(served_by(stub_upstream))) == 1

"""The openai SDK through /v1/chat/completions over real HTTP, on both backends: to an
OpenAI-compatible account the request goes as sent and the answer comes back as sent (tool
calls, every choice), on chat-fast's books, and refusals are the SDK's typed errors."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.integration.native_support import ACCOUNT_KEY, ANSWER, GPT, GPT_UPSTREAM, serve

TOOLS = [{"type": "function", "function": {
    "name": "lookup", "description": "Look a word up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
HI = [{"role": "user", "content": "say something"}]


@pytest.fixture
def gateway(app, stub_upstream):
    yield from serve(app, stub_upstream)


def sdk(gateway, key: dict | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0, timeout=30,
                         api_key=(key or gateway.key)["apiKey"])


def test_a_tool_call_comes_back_whole(gateway):
    gateway.add_account("openai")
    gateway.stub.set_behaviour(toolCall="lookup")
    answer = sdk(gateway).chat.completions.create(model=GPT, messages=HI, tools=TOOLS,
                                                  tool_choice="auto")
    (choice,) = answer.choices
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == ("call_stub", "lookup",
                                                                      ANSWER)
    received = gateway.chats()[0]["body"]
    assert (received["tools"], received["tool_choice"]) == (TOOLS, "auto")


def test_a_streamed_tool_call_arrives_delta_by_delta(gateway):
    gateway.add_account("openai")
    gateway.stub.set_behaviour(toolCall="lookup")
    names, arguments, finish = [], [], []
    for chunk in sdk(gateway).chat.completions.create(model=GPT, messages=HI, tools=TOOLS,
                                                      stream=True):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                names.append(call.function.name or "")
                arguments.append(call.function.arguments or "")
            finish.append(choice.finish_reason)
    assert "".join(names) == "lookup" and "".join(arguments) == ANSWER
    assert finish[-1] == "tool_calls"
    assert gateway.event()["output"] == 12


@pytest.mark.parametrize("stream", [False, True])
def test_every_one_of_n_choices_arrives_and_all_are_billed(gateway, stream):
    gateway.add_account("openai")
    answer = sdk(gateway).chat.completions.create(model=GPT, messages=HI, n=3, stream=stream)
    if stream:
        texts: dict[int, str] = {}
        for chunk in answer:
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    else:
        texts = {choice.index: choice.message.content for choice in answer.choices}
    assert texts == {0: ANSWER, 1: ANSWER, 2: ANSWER}
    event = gateway.event()
    assert (event["output"], event["estimated"]) == (36, False)


def test_every_member_and_protocol_header_reaches_the_upstream_but_model_and_credentials(
        gateway):
    gateway.add_account("openai")
    sent = {"messages": HI, "response_format": {"type": "json_object"}, "seed": 7,
            "logprobs": True, "top_logprobs": 2, "stop": ["\n\n"], "user": "u-1",
            "temperature": 1}
    sdk(gateway).chat.completions.create(
        model=GPT, **sent, extra_body={"future_option": {"on": True}},
        extra_headers={"openai-organization": "org-7"})
    (received,) = gateway.chats()
    body = dict(received["body"])
    assert body.pop("model") == GPT_UPSTREAM
    assert body == {**sent, "future_option": {"on": True}}
    assert isinstance(body["temperature"], int)  # as sent, not re-typed
    headers = received["headers"]
    assert headers["authorization"] == f"Bearer {ACCOUNT_KEY['openai']}"
    assert headers["openai-organization"] == "org-7"
    assert headers["user-agent"].startswith("OpenAI/Python")
    assert headers["x-stainless-lang"] == "python"
    assert not any(gateway.key["apiKey"] in value for value in headers.values())


@pytest.mark.parametrize("asks_usage", [False, True])
def test_a_stream_is_billed_from_its_usage_chunk_which_only_a_client_asking_sees(gateway,
                                                                                asks_usage):
    gateway.add_account("openai")
    options = {"stream_options": {"include_usage": True}} if asks_usage else {}
    chunks = list(sdk(gateway).chat.completions.create(model=GPT, messages=HI, stream=True,
                                                       **options))
    usage = [chunk.usage for chunk in chunks if chunk.usage]
    assert len(usage) == (1 if asks_usage else 0)
    assert gateway.chats()[0]["body"]["stream_options"] == {"include_usage": True}
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (2, 12, False)


def test_an_api_key_header_authenticates(gateway):
    gateway.add_account("openai")
    response = httpx.post(f"{gateway.url}/v1/chat/completions",
                          headers={"api-key": gateway.key["apiKey"]},
                          json={"model": GPT, "messages": HI}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == ANSWER


def test_an_unknown_model_is_the_sdks_not_found_error(gateway):
    with pytest.raises(openai.NotFoundError) as raised:
        sdk(gateway).chat.completions.create(model="gpt-nonexistent", messages=HI)
    assert raised.value.code == "MODEL_NOT_FOUND"


def test_a_key_without_openai_permission_is_the_sdks_permission_denied_error(gateway):
    gateway.add_account("openai")
    key = gateway.new_key(permissions="claude")
    with pytest.raises(openai.PermissionDeniedError) as raised:
        sdk(gateway, key).chat.completions.create(model=GPT, messages=HI)
    assert raised.value.code == "PROVIDER_NOT_ALLOWED"
    assert gateway.chats() == []


def test_a_key_past_its_requests_per_minute_is_the_sdks_rate_limit_error(gateway):
    gateway.add_account("openai")
    key = gateway.new_key(requestsPerMinute=1)
    sdk(gateway, key).chat.completions.create(model=GPT, messages=HI)
    with pytest.raises(openai.RateLimitError) as raised:
        sdk(gateway, key).chat.completions.create(model=GPT, messages=HI)
    assert raised.value.type == "rate_limit_error"
    assert int(raised.value.response.headers["retry-after"]) >= 1


def test_a_bad_key_is_the_sdks_authentication_error(gateway):
    with pytest.raises(openai.AuthenticationError) as raised:
        sdk(gateway, {"apiKey": "rg_not-a-key"}).chat.completions.create(model=GPT,
                                                                          messages=HI)
    assert raised.value.code == "INVALID_API_KEY"


@pytest.mark.parametrize("stream", [False, True])
def test_the_answer_names_the_request_id_its_usage_is_recorded_under(gateway, stream):
    gateway.add_account("openai")
    raw = sdk(gateway).chat.completions.with_raw_response.create(model=GPT, messages=HI,
                                                                 stream=stream)
    request_id = raw.headers["x-relaygate-request-id"]
    if stream:
        list(raw.parse())  # the usage is recorded as the stream ends
    assert request_id.startswith("chat-")
    assert [e["request_id"] for e in gateway.events()] == [request_id]


def test_a_tool_round_trips_history_with_a_null_content_reaches_the_upstream(gateway):
    gateway.add_account("openai")
    history = [*HI, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "lookup", "arguments": '{"q": "fox"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a small wild dog"}]
    answer = sdk(gateway).chat.completions.create(model=GPT, messages=history, tools=TOOLS)
    assert answer.choices[0].message.content == ANSWER
    assert gateway.chats()[0]["body"]["messages"] == history

"""The openai SDK on a Claude account over real HTTP, on both backends: the request reaches
the account in Anthropic's format, the answer and the stream come back in OpenAI's (tool calls
with their ids and streamed arguments, stop reasons, usage with the cache counted once), and
the books are chat-fast's: one usage event with Anthropic's own buckets."""

from __future__ import annotations

import json

import openai
import pytest

from app.protocols.names import shorten
from scripts.stub_upstream import reply_tokens
from tests.api.chat_support import add_account
from tests.integration.native_support import ANSWER, CLAUDE, CLAUDE_UPSTREAM, openai_ask, serve

TOOLS = [{"type": "function", "function": {
    "name": "lookup", "description": "Look a word up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
ASK = [{"role": "system", "content": "be brief"},
       {"role": "user", "content": "look the fox up"}]
ARGUMENTS = json.dumps({"q": ANSWER})


@pytest.fixture
def gateway(app, stub_upstream):
    for gateway in serve(app, stub_upstream):
        gateway.add_account("claude")
        yield gateway


def sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0, timeout=30,
                         api_key=gateway.key["apiKey"])


def ask(gateway, stream: bool, **options):
    """The answer as (text, tool calls, finish reason, usage, raw response)."""
    return openai_ask(gateway, CLAUDE, stream, ASK, **options)


@pytest.mark.parametrize("stream", [False, True])
def test_a_claude_answer_comes_back_as_an_openai_completion_billed_once(gateway, stream):
    text, calls, finish, usage, raw = ask(gateway, stream, max_tokens=50, stop=["END"],
                                          temperature=0.5,
                                          stream_options={"include_usage": True}
                                          if stream else openai.NOT_GIVEN)
    assert (text, calls, finish) == (ANSWER, [], "stop")
    (received,) = gateway.chats()
    assert received["path"] == "/v1/messages"
    assert received["body"] == {
        "model": CLAUDE_UPSTREAM, "system": "be brief", "max_tokens": 50,
        "stop_sequences": ["END"], "temperature": 0.5, "stream": stream,
        "messages": [{"role": "user", "content": [{"type": "text",
                                                   "text": "look the fox up"}]}]}
    assert "x-relaygate-dropped" not in raw.headers
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (6, 12, False)
    assert event["request_id"] == raw.headers["x-relaygate-request-id"]
    assert (usage.prompt_tokens, usage.completion_tokens) == (6, 12)


@pytest.mark.parametrize("stream", [False, True])
def test_a_two_turn_tool_round_trip_completes_with_the_call_ids_kept(gateway, stream):
    gateway.stub.set_behaviour(toolCall="lookup", textBeforeTool=True, times=1)
    text, calls, finish, _, _ = ask(gateway, stream, tools=TOOLS, tool_choice="required",
                                    parallel_tool_calls=False)
    assert (text, calls, finish) == (ANSWER, [("toolu_stub", "lookup", ARGUMENTS)],
                                     "tool_calls")
    first = gateway.chats()[0]["body"]
    assert first["tools"] == [{"name": "lookup", "description": "Look a word up",
                               "input_schema": TOOLS[0]["function"]["parameters"]}]
    assert first["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}

    turn = [*ASK, {"role": "assistant", "content": text, "tool_calls": [
        {"id": "toolu_stub", "type": "function",
         "function": {"name": "lookup", "arguments": ARGUMENTS}}]},
        {"role": "tool", "tool_call_id": "toolu_stub", "content": "a small fox"}]
    text, calls, finish, _, _ = ask(gateway, stream, tools=TOOLS, messages=turn)
    assert (text, calls, finish) == (ANSWER, [], "stop")
    second = gateway.chats()[1]["body"]
    assert second["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "text", "text": ANSWER},
            {"type": "tool_use", "id": "toolu_stub", "name": "lookup", "input": {"q": ANSWER}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_stub",
                                      "content": [{"type": "text", "text": "a small fox"}]}]}]
    assert [e["estimated"] for e in gateway.events()] == [False, False]


@pytest.mark.parametrize("stream", [False, True])
def test_cache_tokens_are_counted_inside_the_prompt_once_and_recorded_in_their_buckets(
        gateway, stream):
    gateway.stub.set_behaviour(cacheWriteTokens=100, cacheReadTokens=300)
    *_, usage, _ = ask(gateway, stream, stream_options={"include_usage": True}
                       if stream else openai.NOT_GIVEN)
    assert usage.prompt_tokens == 6 + 100 + 300
    assert usage.prompt_tokens_details.cached_tokens == 300
    assert usage.total_tokens == 6 + 100 + 300 + 12
    event = gateway.event()
    assert (event["input"], event["cache_write"], event["cache_read"]) == (6, 100, 300)


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_asked_by_reasoning_effort_is_dropped_and_named_never_leaked(gateway,
                                                                             stream):
    gateway.stub.set_behaviour(thinking="secret musings here")
    text, _, _, _, raw = ask(gateway, stream, reasoning_effort="low", max_tokens=100)
    assert text == ANSWER and "musings" not in json.dumps(text)
    assert raw.headers["x-relaygate-dropped"] == "thinking"
    body = gateway.chats()[0]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["max_tokens"] == 1124
    assert gateway.event()["output"] == 12


def test_images_travel_as_anthropic_image_blocks(gateway):
    content = [{"type": "text", "text": "what is this"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/fox.jpg"}}]
    text, *_ = ask(gateway, False, messages=[{"role": "user", "content": content}])
    assert text == ANSWER
    (received,) = gateway.chats()
    assert received["body"]["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0K"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/fox.jpg"}}]


def test_a_tool_name_too_long_for_the_target_is_shortened_there_and_restored(gateway):
    name = "mcp__project_tracker__" + "find_issue_by_title_and_label_" * 3
    short = shorten(name)
    assert len(short) <= 64 and short != name
    gateway.stub.set_behaviour(toolCall=short)
    tools = [{"type": "function", "function": {"name": name, "parameters": {}}}]
    _, calls, finish, _, _ = ask(gateway, True, tools=tools)
    assert [(call[1], finish) for call in calls] == [(name, "tool_calls")]
    assert gateway.chats()[0]["body"]["tools"][0]["name"] == short


@pytest.mark.parametrize("member, value, field", [
    ("n", 2, "n"), ("response_format", {"type": "json_object"}, "response_format"),
    ("seed", 7, "seed")])
def test_what_anthropic_cannot_take_is_a_400_naming_it_and_nothing_is_spent(
        gateway, member, value, field):
    key = gateway.new_key(requestsPerMinute=1)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key["apiKey"], max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=CLAUDE, messages=ASK, extra_body={member: value})
    assert raised.value.code == "UNTRANSLATABLE"
    assert f"`{field}`" in raised.value.message and raised.value.param == field
    assert gateway.chats() == [] and gateway.events(key["id"]) == []
    # Nothing was counted against the key: its one request a minute is still there.
    client.chat.completions.create(model=CLAUDE, messages=ASK)


def test_an_upstream_refusal_is_the_openai_sdks_typed_error(gateway):
    gateway.stub.set_behaviour(status=400, message="messages: bad turn order")
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway).chat.completions.create(model=CLAUDE, messages=ASK)
    assert raised.value.code == "UPSTREAM_BAD_REQUEST"
    assert "bad turn order" in raised.value.message
    assert gateway.events() == []


def test_an_upstream_failure_mid_stream_ends_with_openais_error_chunk(gateway):
    gateway.stub.set_behaviour(failAfterTokens=3, status=529, message="overloaded now")
    with pytest.raises(openai.APIError) as raised:
        for _ in sdk(gateway).chat.completions.create(model=CLAUDE, messages=ASK,
                                                      stream=True):
            pass
    assert "overloaded now" in raised.value.message
    event = gateway.event()
    assert event["estimated"] and event["output"] >= len(reply_tokens(3)) // 4


def test_a_gemini_model_still_answers_an_openai_client_with_its_text(gateway):
    add_account(gateway.client, gateway.admin, gateway.stub, "acct-gemini-secret",
                provider="gemini", baseUrl=gateway.stub.url)
    answer = sdk(gateway).chat.completions.create(model="gemini/gemini-2.5-flash",
                                                  messages=ASK)
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == (ANSWER,
                                                                                    "stop")
    assert gateway.chats()[-1]["format"] == "gemini"
    assert gateway.event()["output"] == 12


def test_a_malformed_turn_is_a_400_and_nothing_is_spent(gateway):
    broken = [*ASK, {"role": "assistant", "content": "",
                     "tool_calls": [{"id": "call_1", "type": "function"}]}]
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway).chat.completions.create(model=CLAUDE, messages=broken)
    assert raised.value.code == "UNTRANSLATABLE"
    assert gateway.chats() == [] and gateway.events() == []

"""The anthropic SDK (as Claude Code uses it) on an OpenAI-compatible account over real HTTP,
on both backends: the request reaches the account in OpenAI's format, the answer and the
event stream come back as Anthropic's (message_start, blocks, message_delta with usage,
message_stop), tool calls round-trip with their ids, and the usage is recorded once."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from tests.integration.native_support import ANSWER, GPT, GPT_UPSTREAM, serve

TOOLS = [{"name": "Read", "description": "Read a file",
          "input_schema": {"type": "object", "properties": {"q": {"type": "string"}},
                           "required": ["q"]}}]
SYSTEM = [{"type": "text", "text": "You are a coding agent."},
          {"type": "text", "text": "Keep answers short.", "cache_control": {"type": "ephemeral"}}]
HI = [{"role": "user", "content": "read the notes"}]


@pytest.fixture
def gateway(app, stub_upstream):
    for gateway in serve(app, stub_upstream):
        gateway.add_account("openai")
        yield gateway


def sdk(gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, max_retries=0, timeout=30,
                               api_key=gateway.key["apiKey"])


def ask(gateway, stream: bool, **options):
    """The final message, and the raw HTTP response's headers."""
    request = {"model": GPT, "max_tokens": 64, "messages": HI, **options}
    if not stream:
        raw = sdk(gateway).messages.with_raw_response.create(**request)
        return raw.parse(), raw.headers
    with sdk(gateway).messages.stream(**request) as events:
        message = events.get_final_message()
        return message, events.response.headers


@pytest.mark.parametrize("stream", [False, True])
def test_an_openai_answer_comes_back_as_an_anthropic_message_billed_once(gateway, stream):
    message, headers = ask(gateway, stream, system=SYSTEM, extra_body={"temperature": 0.2},
                           stop_sequences=["END"], metadata={"user_id": "u-7"})
    assert [block.type for block in message.content] == ["text"]
    assert (message.content[0].text, message.stop_reason) == (ANSWER, "end_turn")
    assert message.model == GPT_UPSTREAM
    (received,) = gateway.chats()
    assert received["path"] == "/v1/chat/completions"
    body = dict(received["body"])
    assert body.pop("stream_options", None) == ({"include_usage": True} if stream else None)
    assert body == {
        "model": GPT_UPSTREAM, "max_completion_tokens": 64, "temperature": 0.2,
        "stop": ["END"], "user": "u-7", "stream": stream,
        "messages": [{"role": "system",
                      "content": "You are a coding agent.\n\nKeep answers short."},
                     {"role": "user", "content": "read the notes"}]}
    assert "x-relaygate-dropped" not in headers
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (11, 12, False)
    assert event["request_id"] == headers["x-relaygate-request-id"]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 12)


def test_the_stream_is_anthropics_own_event_order(gateway):
    gateway.stub.set_behaviour(toolCall="Read", jsonArguments=True)
    with httpx.stream("POST", f"{gateway.url}/v1/messages",
                      headers={"x-api-key": gateway.key["apiKey"]},
                      json={"model": GPT, "max_tokens": 64, "stream": True, "messages": HI,
                            "tools": TOOLS}, timeout=30) as response:
        names = [line.removeprefix("event: ") for line in response.iter_lines()
                 if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start",
                     *["content_block_delta"] * 12, "content_block_stop", "message_delta",
                     "message_stop"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_two_turn_tool_round_trip_completes_with_the_call_ids_kept(gateway, stream):
    gateway.stub.set_behaviour(toolCall="Read", jsonArguments=True, times=1)
    message, _ = ask(gateway, stream, tools=TOOLS, tool_choice={"type": "tool", "name": "Read"})
    (tool,) = message.content
    assert (tool.type, tool.id, tool.name, tool.input) == ("tool_use", "call_stub", "Read",
                                                           {"q": ANSWER})
    assert message.stop_reason == "tool_use"
    first = gateway.chats()[0]["body"]
    assert first["tools"] == [{"type": "function", "function": {
        "name": "Read", "description": "Read a file", "parameters": TOOLS[0]["input_schema"]}}]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "Read"}}

    turn = [*HI, {"role": "assistant", "content": [block.model_dump() for block in
                                                   message.content]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_stub", "content": "the notes"},
                {"type": "text", "text": "and now?"}]}]
    message, _ = ask(gateway, stream, tools=TOOLS, messages=turn)
    assert (message.content[0].text, message.stop_reason) == (ANSWER, "end_turn")
    second = gateway.chats()[1]["body"]
    assert second["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_stub", "type": "function",
             "function": {"name": "Read", "arguments": json.dumps({"q": ANSWER})}}]},
        {"role": "tool", "tool_call_id": "call_stub", "content": "the notes"},
        {"role": "user", "content": "and now?"}]
    assert [e["estimated"] for e in gateway.events()] == [False, False]


@pytest.mark.parametrize("stream", [False, True])
def test_cached_tokens_leave_the_input_count_and_are_recorded_as_cache_reads(gateway,
                                                                            stream):
    gateway.stub.set_behaviour(cacheReadTokens=40)
    message, _ = ask(gateway, stream)
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (
        3, 40, 12)
    event = gateway.event()
    assert (event["input"], event["cache_read"], event["cache_write"]) == (3, 40, 0)


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_asked_of_an_openai_model_is_dropped_and_named(gateway, stream):
    earlier = [*HI, {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "private", "signature": "c2ln"},
        {"type": "text", "text": "done"}]}, {"role": "user", "content": "again"}]
    message, headers = ask(gateway, stream, max_tokens=2048, messages=earlier,
                           thinking={"type": "enabled", "budget_tokens": 1024})
    assert message.content[0].text == ANSWER
    assert headers["x-relaygate-dropped"] == "thinking"
    body = gateway.chats()[0]["body"]
    assert "thinking" not in body and "private" not in json.dumps(body)
    assert body["messages"][1] == {"role": "assistant", "content": "done"}


def test_images_travel_as_openai_image_urls(gateway):
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                            "data": "iVBORw0K"}},
               {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
               {"type": "text", "text": "what is this"}]
    ask(gateway, False, messages=[{"role": "user", "content": content}])
    assert gateway.chats()[0]["body"]["messages"] == [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "text", "text": "what is this"}]}]


@pytest.mark.parametrize("extra, field", [
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
    ({"top_k": 5}, "top_k")])
def test_what_openai_cannot_take_is_a_400_naming_it(gateway, extra, field):
    with pytest.raises(anthropic.BadRequestError) as raised:
        sdk(gateway).messages.create(model=GPT, max_tokens=8, messages=HI, extra_body=extra)
    assert raised.value.body["error"]["type"] == "invalid_request_error"
    assert f"`{field}`" in raised.value.message and "UNTRANSLATABLE" in raised.value.message
    assert gateway.chats() == [] and gateway.events() == []


def test_an_upstream_failure_before_the_first_byte_is_in_anthropics_error_shape(gateway):
    gateway.stub.set_behaviour(status=401, message="bad account key")
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk(gateway).messages.create(model=GPT, max_tokens=8, messages=HI)
    assert raised.value.body["type"] == "error"
    assert "bad account key" in raised.value.message
    assert gateway.events() == []


def test_an_upstream_failure_mid_stream_ends_with_anthropics_error_event(gateway):
    gateway.stub.set_behaviour(failAfterTokens=3, status=429, message="slow down")
    with httpx.stream("POST", f"{gateway.url}/v1/messages",
                      headers={"x-api-key": gateway.key["apiKey"]},
                      json={"model": GPT, "max_tokens": 64, "stream": True, "messages": HI},
                      timeout=30) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-2] == "event: error"
    error = json.loads(lines[-1].removeprefix("data: "))
    assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
    assert "message_stop" not in "".join(lines)
    assert gateway.event()["estimated"] is True

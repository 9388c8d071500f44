"""The openai and anthropic SDKs on a Gemini account over real HTTP, on both backends: the
request reaches the account as a valid generateContent body (the stub refuses any other),
the answer and the stream come back in the client's format (tool calls with the ids the
client was given, thinking carried to Anthropic and named where dropped, stop reasons, the
cache counted once), a two-turn tool round trip completes, and the usage is recorded once in
Gemini's buckets (thoughts billed as output)."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from scripts.stub_upstream import SIGNATURE
from tests.api.chat_support import add_account
from tests.integration.native_support import ANSWER, openai_ask, serve

GEMINI = "gemini/gemini-2.5-flash"
UPSTREAM = "gemini-2.5-flash"
ASK = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "look the fox up"}]
OPENAI_TOOLS = [{"type": "function", "function": {
    "name": "lookup", "description": "Look a word up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
ANTHROPIC_TOOLS = [{"name": "lookup", "description": "Look a word up",
                    "input_schema": OPENAI_TOOLS[0]["function"]["parameters"]}]
HI = [{"role": "user", "content": "look the fox up"}]
ARGUMENTS = {"q": ANSWER}


@pytest.fixture
def gateway(app, stub_upstream):
    for gateway in serve(app, stub_upstream):
        add_account(gateway.client, gateway.admin, stub_upstream, "acct-gemini-secret",
                    provider="gemini", baseUrl=stub_upstream.url)
        yield gateway


def received(gateway, turn: int = 0) -> dict:
    """What reached the Gemini account: it was a valid generateContent body (the stub
    answers 400 to any other, and logs the problem)."""
    entry = gateway.chats()[turn]
    assert "problem" not in entry and entry["format"] == "gemini"
    assert entry["path"].startswith(f"/v1beta/models/{UPSTREAM}:")
    return entry


def ask_openai(gateway, stream: bool, **options):
    """(text, tool calls, finish reason, usage, raw response) from the openai SDK."""
    return openai_ask(gateway, GEMINI, stream, ASK, **options)


def anthropic_ask(gateway, stream: bool, **options):
    """The final message and the response headers, from the anthropic SDK."""
    client = anthropic.Anthropic(base_url=gateway.url, max_retries=0, timeout=30,
                                 api_key=gateway.key["apiKey"])
    request = {"model": GEMINI, "max_tokens": 64, "messages": HI, **options}
    if not stream:
        raw = client.messages.with_raw_response.create(**request)
        return raw.parse(), raw.headers
    with client.messages.stream(**request) as events:
        return events.get_final_message(), events.response.headers


# -- the openai SDK -------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_answer_comes_back_as_an_openai_completion_billed_once(gateway, stream):
    text, calls, finish, usage, raw = ask_openai(
        gateway, stream, max_tokens=50, stop=["END"], temperature=0.5, top_p=0.9,
        stream_options={"include_usage": True} if stream else openai.NOT_GIVEN)
    assert (text, calls, finish) == (ANSWER, [], "stop")
    entry = received(gateway)
    assert entry["stream"] is stream
    assert entry["body"] == {
        "contents": [{"role": "user", "parts": [{"text": "look the fox up"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "generationConfig": {"maxOutputTokens": 50, "temperature": 0.5, "topP": 0.9,
                             "stopSequences": ["END"]}}
    assert "x-relaygate-dropped" not in raw.headers
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (6, 12, False)
    assert event["request_id"] == raw.headers["x-relaygate-request-id"]
    assert (usage.prompt_tokens, usage.completion_tokens) == (6, 12)


@pytest.mark.parametrize("stream", [False, True])
def test_an_openai_two_turn_tool_round_trip_completes_with_the_call_ids_kept(gateway, stream):
    gateway.stub.set_behaviour(toolCall="lookup", textBeforeTool=True, times=1)
    text, calls, finish, _, _ = ask_openai(gateway, stream, tools=OPENAI_TOOLS,
                                           tool_choice="required")
    ((call_id, name, arguments),) = calls
    assert (text, name, json.loads(arguments), finish) == (ANSWER, "lookup", ARGUMENTS,
                                                           "tool_calls")
    assert call_id.startswith("call_")
    first = received(gateway)["body"]
    assert first["tools"] == [{"functionDeclarations": [{
        "name": "lookup", "description": "Look a word up",
        "parametersJsonSchema": OPENAI_TOOLS[0]["function"]["parameters"]}]}]
    assert first["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}

    turn = [*ASK, {"role": "assistant", "content": text, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "a small fox"}]
    text, calls, finish, _, _ = ask_openai(gateway, stream, tools=OPENAI_TOOLS, messages=turn)
    assert (text, calls, finish) == (ANSWER, [], "stop")
    assert received(gateway, 1)["body"]["contents"][1:] == [
        {"role": "model", "parts": [{"text": ANSWER},
                                    {"functionCall": {"name": "lookup", "args": ARGUMENTS}}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "lookup", "response": {"output": "a small fox"}}}]}]
    assert [e["estimated"] for e in gateway.events()] == [False, False]


@pytest.mark.parametrize("stream", [False, True])
def test_cached_tokens_are_counted_inside_the_prompt_once_and_recorded_as_cache_reads(
        gateway, stream):
    gateway.stub.set_behaviour(cacheReadTokens=300)
    *_, usage, _ = ask_openai(gateway, stream, stream_options={"include_usage": True}
                              if stream else openai.NOT_GIVEN)
    assert usage.prompt_tokens == 6 + 300
    assert usage.prompt_tokens_details.cached_tokens == 300
    assert usage.total_tokens == 6 + 300 + 12
    event = gateway.event()
    assert (event["input"], event["cache_write"], event["cache_read"]) == (6, 0, 300)


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_thoughts_are_dropped_for_openai_named_and_billed_as_output(gateway, stream):
    gateway.stub.set_behaviour(thinking="secret musings here")
    text, _, _, usage, raw = ask_openai(
        gateway, stream, reasoning_effort="low", max_tokens=100,
        stream_options={"include_usage": True} if stream else openai.NOT_GIVEN)
    assert text == ANSWER
    assert raw.headers["x-relaygate-dropped"] == "thinking"
    config = received(gateway)["body"]["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    assert config["maxOutputTokens"] == 1124
    assert usage.completion_tokens == 12 + 3
    assert gateway.event()["output"] == 12 + 3


def test_images_and_json_mode_travel_as_geminis_own(gateway):
    content = [{"type": "text", "text": "what is this"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/fox.jpg"}}]
    text, *_ = ask_openai(gateway, False, messages=[{"role": "user", "content": content}],
                          response_format={"type": "json_object"})
    assert text == ANSWER
    body = received(gateway)["body"]
    assert body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/fox.jpg"}}]
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_n_choices_are_gemini_candidates_each_answered_and_all_billed(gateway):
    text, *_, usage, raw = ask_openai(gateway, False, n=2)
    assert [choice.message.content for choice in raw.parse().choices] == [ANSWER, ANSWER]
    assert received(gateway)["body"]["generationConfig"] == {"candidateCount": 2}
    assert usage.completion_tokens == 24 and gateway.event()["output"] == 24


@pytest.mark.parametrize("extra, field", [
    ({"parallel_tool_calls": False, "tools": OPENAI_TOOLS}, "parallel_tool_calls"),
    ({"stop": ["a", "b", "c", "d", "e", "f"]}, "stop")])
def test_what_gemini_cannot_take_is_a_400_naming_it_and_nothing_is_spent(gateway, extra,
                                                                         field):
    client = openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0,
                           api_key=gateway.key["apiKey"])
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=GEMINI, messages=ASK, extra_body=extra)
    assert raised.value.code == "UNTRANSLATABLE" and raised.value.param == field
    assert gateway.chats() == [] and gateway.events() == []


def test_a_gemini_refusal_is_the_openai_sdks_typed_error(gateway):
    gateway.stub.set_behaviour(status=400, message="contents: bad turn")
    client = openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0,
                           api_key=gateway.key["apiKey"])
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=GEMINI, messages=ASK)
    assert raised.value.code == "UPSTREAM_BAD_REQUEST" and "bad turn" in raised.value.message
    assert gateway.events() == []


# -- the anthropic SDK ----------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_answer_comes_back_as_an_anthropic_message_billed_once(gateway, stream):
    gateway.stub.set_behaviour(cacheReadTokens=40)
    message, headers = anthropic_ask(gateway, stream, system="be brief",
                                     stop_sequences=["END"], metadata={"user_id": "u-7"})
    assert [block.type for block in message.content] == ["text"]
    assert (message.content[0].text, message.stop_reason) == (ANSWER, "end_turn")
    assert message.model == UPSTREAM
    assert received(gateway)["body"] == {
        "contents": [{"role": "user", "parts": [{"text": "look the fox up"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "generationConfig": {"maxOutputTokens": 64, "stopSequences": ["END"]}}
    # Gemini has no member for the end user's id: left out, and said so.
    assert headers["x-relaygate-dropped"] == "user"
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (
        6, 40, 12)
    event = gateway.event()
    assert (event["input"], event["cache_read"], event["output"], event["estimated"]) == (
        6, 40, 12, False)


@pytest.mark.parametrize("stream", [False, True])
def test_an_anthropic_two_turn_tool_round_trip_keeps_ids_and_thought_signatures(gateway,
                                                                               stream):
    gateway.stub.set_behaviour(toolCall="lookup", thinking="the fox first", times=1)
    message, headers = anthropic_ask(
        gateway, stream, max_tokens=2048, tools=ANTHROPIC_TOOLS,
        thinking={"type": "enabled", "budget_tokens": 1024})
    thought, signed, call = message.content
    assert (thought.type, thought.thinking, thought.signature) == (
        "thinking", "the fox first", SIGNATURE)
    assert (signed.type, signed.thinking, signed.signature) == ("thinking", "", SIGNATURE)
    assert (call.type, call.name, call.input) == ("tool_use", "lookup", ARGUMENTS)
    assert message.stop_reason == "tool_use" and "x-relaygate-dropped" not in headers
    config = received(gateway)["body"]["generationConfig"]
    assert config == {"maxOutputTokens": 3072,
                      "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}
    assert gateway.events()[0]["output"] == 12 + 3

    turn = [*HI, {"role": "assistant", "content": [block.model_dump() for block in
                                                   message.content]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "a small fox"}]}]
    message, _ = anthropic_ask(gateway, stream, max_tokens=2048, tools=ANTHROPIC_TOOLS,
                               messages=turn, thinking={"type": "enabled",
                                                        "budget_tokens": 1024})
    assert (message.content[-1].text, message.stop_reason) == (ANSWER, "end_turn")
    assert received(gateway, 1)["body"]["contents"][1:] == [
        {"role": "model", "parts": [
            {"text": "the fox first", "thought": True, "thoughtSignature": SIGNATURE},
            {"functionCall": {"name": "lookup", "args": ARGUMENTS},
             "thoughtSignature": SIGNATURE}]},
        {"role": "user", "parts": [{"functionResponse": {
            "name": "lookup", "response": {"output": "a small fox"}}}]}]
    assert [e["estimated"] for e in gateway.events()] == [False, False]


def test_a_tool_result_for_no_earlier_call_is_a_400_naming_it(gateway):
    orphan = [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_gone", "content": "x"}]}]
    with pytest.raises(anthropic.BadRequestError) as raised:
        anthropic_ask(gateway, False, messages=orphan)
    assert "`messages[0].tool_result`" in raised.value.message
    assert gateway.chats() == [] and gateway.events() == []


def test_the_stream_an_anthropic_client_gets_is_in_anthropics_own_event_order(gateway):
    gateway.stub.set_behaviour(toolCall="lookup", thinking="the fox first")
    with httpx.stream("POST", f"{gateway.url}/v1/messages",
                      headers={"x-api-key": gateway.key["apiKey"]},
                      json={"model": GEMINI, "max_tokens": 64, "stream": True, "messages": HI,
                            "tools": ANTHROPIC_TOOLS}, timeout=30) as response:
        events = [(line.removeprefix("event: "), json.loads(data.removeprefix("data: ")))
                  for line, data in _pairs(response.iter_lines())]
    block = ["content_block_start", "content_block_delta", "content_block_stop"]
    assert [name for name, _ in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", *block, *block, "message_delta", "message_stop"]
    assert [data["content_block"]["type"] for name, data in events
            if name == "content_block_start"] == ["thinking", "thinking", "tool_use"]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["output_tokens"] == 12 + 3


def test_the_stream_an_openai_client_gets_opens_with_the_role_and_ends_with_done(gateway):
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions",
                      headers={"Authorization": f"Bearer {gateway.key['apiKey']}"},
                      json={"model": GEMINI, "stream": True, "messages": ASK,
                            "stream_options": {"include_usage": True}},
                      timeout=30) as response:
        data = [line.removeprefix("data: ") for line in response.iter_lines()
                if line.startswith("data: ")]
    chunks = [json.loads(item) for item in data[:-1]]
    assert data[-1] == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(chunk["choices"][0]["delta"].get("content") or ""
                   for chunk in chunks if chunk["choices"]) == ANSWER
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]][
        -1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 12


def _pairs(lines):
    """An SSE body's (event line, data line) pairs."""
    lines = [line for line in lines if line]
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]

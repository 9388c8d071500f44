"""The openai SDK's `client.responses.create` (what Codex CLI speaks) over real HTTP, on both
backends, against three kinds of account: an OpenAI-compatible one flagged supportsResponses
(the body relayed to its /v1/responses as sent, its events as they came), one without the flag
(translated to chat completions) and a Claude one (translated to Messages). Each streams and
answers whole, carries a function call and its output across two turns, and is billed once
with the cache in its own bucket; stateful members are refused where nothing keeps state."""

from __future__ import annotations

import json

import openai
import pytest

from tests.api.chat_support import add_account
from tests.integration.native_support import (
    ANSWER,
    CLAUDE,
    CLAUDE_UPSTREAM,
    GPT,
    GPT_UPSTREAM,
    serve,
)

# target -> (model, the stub path it reaches, account fields)
TARGETS = {
    "passthrough": (GPT, "/v1/responses", {"provider": "openai", "supportsResponses": True}),
    "chat": (GPT, "/v1/chat/completions", {"provider": "openai"}),
    "claude": (CLAUDE, "/v1/messages", {"provider": "claude"}),
}
TOOLS = [{"type": "function", "name": "lookup", "description": "Look a word up",
          "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]
ARGUMENTS = json.dumps({"q": ANSWER})
CODEX_INPUT = [
    {"type": "message", "role": "user",
     "content": [{"type": "input_text", "text": "look the fox up"}]}]


@pytest.fixture(params=list(TARGETS))
def target(request) -> str:
    return request.param


@pytest.fixture
def gateway(app, stub_upstream, target):
    for gateway in serve(app, stub_upstream):
        fields = dict(TARGETS[target][2])
        base = stub_upstream.url + ("/v1" if fields["provider"] == "openai" else "")
        add_account(gateway.client, gateway.admin, stub_upstream, f"acct-{target}",
                    baseUrl=base, **fields)
        yield gateway


def sdk(gateway, key: dict | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0, timeout=30,
                         api_key=(key or gateway.key)["apiKey"])


def ask(gateway, target: str, stream: bool, **options):
    """(the final response, the event types in order, the raw HTTP response)."""
    raw = sdk(gateway).responses.with_raw_response.create(
        model=TARGETS[target][0], stream=stream,
        **{"instructions": "be brief", "input": "look the fox up", **options})
    if not stream:
        return raw.parse(), [], raw
    events = list(raw.parse())
    assert events[-1].type == "response.completed"
    return events[-1].response, [event.type for event in events], raw


def calls_of(response) -> list[tuple[str, str, str]]:
    return [(item.call_id, item.name, item.arguments) for item in response.output
            if item.type == "function_call"]


def set_tool_call(gateway, target: str, **more) -> str:
    """Make the stub answer with a call of `lookup`; the call id the target gives it."""
    if target == "claude":
        gateway.stub.set_behaviour(toolCall="lookup", textBeforeTool=True, **more)
        return "toolu_stub"
    gateway.stub.set_behaviour(toolCall="lookup", jsonArguments=True, **more)
    return "call_stub"


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_reaches_the_sdk_and_is_billed_once_with_the_cache_in_its_bucket(
        gateway, target, stream):
    gateway.stub.set_behaviour(cacheReadTokens=30)
    response, events, raw = ask(gateway, target, stream, max_output_tokens=50)
    assert response.output_text == ANSWER and response.status == "completed"
    (received,) = gateway.chats()
    assert received["path"] == TARGETS[target][1]
    if target == "passthrough":
        assert received["body"] == {"model": GPT_UPSTREAM, "instructions": "be brief",
                                    "input": "look the fox up", "max_output_tokens": 50,
                                    "stream": stream}
    elif target == "chat":
        assert received["body"]["messages"] == [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "look the fox up"}]
        assert received["body"]["max_completion_tokens"] == 50
    else:
        assert received["body"]["model"] == CLAUDE_UPSTREAM
        assert (received["body"]["system"], received["body"]["max_tokens"]) == ("be brief", 50)
    if stream:
        assert events[:2] == ["response.created", "response.in_progress"]
        assert "response.output_text.delta" in events
    # The cached 30 are inside Responses' input_tokens, and apart on the books, once.
    assert (response.usage.input_tokens, response.usage.output_tokens) == (6 + 30, 12)
    assert response.usage.input_tokens_details.cached_tokens == 30
    event = gateway.event()
    assert (event["input"], event["output"], event["cache_read"], event["estimated"]) == (
        6, 12, 30, False)
    assert event["request_id"] == raw.headers["x-relaygate-request-id"]


def test_a_codex_shaped_request_streams_a_function_call_and_completes(gateway, target):
    call_id = set_tool_call(gateway, target)
    events = list(sdk(gateway).responses.create(
        model=TARGETS[target][0], instructions="You are Codex.", input=CODEX_INPUT,
        tools=TOOLS, tool_choice="auto", parallel_tool_calls=False, store=False, stream=True,
        include=["reasoning.encrypted_content"], prompt_cache_key="conv-1",
        extra_headers={"session_id": "conv-1", "conversation_id": "conv-1",
                       "originator": "codex_cli_rs"}))
    types = [event.type for event in events]
    assert types[-1] == "response.completed"
    assert types.count("response.function_call_arguments.delta") >= 2
    assert "response.function_call_arguments.done" in types
    deltas = "".join(event.delta for event in events
                     if event.type == "response.function_call_arguments.delta")
    assert deltas == ARGUMENTS
    assert [event.sequence_number for event in events] == sorted(
        event.sequence_number for event in events)
    assert calls_of(events[-1].response) == [(call_id, "lookup", ARGUMENTS)]
    (received,) = gateway.chats()
    if target == "passthrough":
        assert received["body"]["tools"] == TOOLS and received["body"]["store"] is False
    else:
        names = [tool.get("name") or tool["function"]["name"]
                 for tool in received["body"]["tools"]]
        assert names == ["lookup"]
    assert gateway.event()["estimated"] is False


@pytest.mark.parametrize("stream", [False, True])
def test_a_two_turn_tool_round_trip_completes_with_the_call_id_kept(gateway, target, stream):
    call_id = set_tool_call(gateway, target, times=1)
    first, _, _ = ask(gateway, target, stream, input=CODEX_INPUT, tools=TOOLS)
    assert calls_of(first) == [(call_id, "lookup", ARGUMENTS)]
    turn = [*CODEX_INPUT, *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call_id, "output": "a small fox"}]
    second, _, _ = ask(gateway, target, stream, input=turn, tools=TOOLS)
    assert (second.output_text, calls_of(second)) == (ANSWER, [])
    sent = gateway.chats()[1]["body"]
    if target == "passthrough":
        assert sent["input"][-1] == turn[-1]
    elif target == "chat":
        assert sent["messages"][-1] == {"role": "tool", "tool_call_id": call_id,
                                        "content": "a small fox"}
        assert sent["messages"][-2]["tool_calls"][0]["id"] == call_id
    else:
        assert sent["messages"][-1]["content"][0] == {
            "type": "tool_result", "tool_use_id": call_id,
            "content": [{"type": "text", "text": "a small fox"}]}
    assert [e["estimated"] for e in gateway.events()] == [False, False]


@pytest.mark.parametrize("target", ["chat", "claude"])
@pytest.mark.parametrize("member, value, named", [
    ("previous_response_id", "resp_1", "previous_response_id"),
    ("store", True, "store"),
    ("background", True, "background"),
    ("conversation", "conv_1", "conversation"),
    ("tools", [{"type": "web_search"}], "tools[0].type"),
])
def test_what_needs_state_or_openais_own_tools_is_a_400_naming_it_and_nothing_is_spent(
        gateway, target, member, value, named):
    key = gateway.new_key(requestsPerMinute=1)
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway, key).responses.create(model=TARGETS[target][0], input="hi",
                                           extra_body={member: value})
    assert raised.value.code == "UNTRANSLATABLE" and raised.value.param == named
    assert f"`{named}`" in raised.value.message
    assert gateway.chats() == [] and gateway.events(key["id"]) == []
    # Nothing was counted against the key: its one request a minute is still there.
    assert sdk(gateway, key).responses.create(model=TARGETS[target][0],
                                              input="hi").output_text == ANSWER


@pytest.mark.parametrize("target", ["passthrough"])
def test_an_account_serving_responses_gets_the_stateful_members_as_sent(gateway, target):
    sdk(gateway).responses.create(model=GPT, input="hi", previous_response_id="resp_1",
                                  store=True, tools=[{"type": "web_search"}])
    body = gateway.chats()[0]["body"]
    assert (body["previous_response_id"], body["store"], body["tools"]) == (
        "resp_1", True, [{"type": "web_search"}])


@pytest.mark.parametrize("target", ["chat", "claude"])
def test_a_reasoning_summary_is_dropped_and_named(gateway, target):
    gateway.stub.set_behaviour(thinking="secret musings here")
    response, _, raw = ask(gateway, target, True, reasoning={"effort": "low",
                                                             "summary": "auto"})
    assert raw.headers["x-relaygate-dropped"] == "thinking"
    assert response.output_text == ANSWER
    assert "musings" not in response.model_dump_json()
    assert [item.type for item in response.output] == ["message"]


def test_an_upstream_refusal_is_the_openai_sdks_typed_error(gateway, target):
    gateway.stub.set_behaviour(status=400, message="bad input here")
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway).responses.create(model=TARGETS[target][0], input="hi")
    assert raised.value.code == "UPSTREAM_BAD_REQUEST"
    assert "bad input here" in raised.value.message
    assert gateway.events() == []


def test_a_failure_mid_stream_ends_with_the_responses_error_event(gateway, target):
    gateway.stub.set_behaviour(failAfterTokens=3, status=500, message="broke midway")
    events = list(sdk(gateway).responses.create(model=TARGETS[target][0], input="hi",
                                                stream=True))
    assert "response.completed" not in [event.type for event in events]
    last = events[-1]
    assert (last.type, last.code) == ("error", "UPSTREAM_ERROR")
    assert "broke midway" in last.message
    assert last.sequence_number > events[-2].sequence_number
    assert gateway.event()["estimated"]


def test_the_other_paths_reach_the_same_route(gateway, target):
    for prefix in ("/openai", "/openai/v1"):
        client = openai.OpenAI(base_url=gateway.url + prefix, max_retries=0, timeout=30,
                               api_key=gateway.key["apiKey"])
        assert client.responses.create(model=TARGETS[target][0],
                                       input="hi").output_text == ANSWER
    assert len(gateway.events()) == 2


@pytest.fixture
def mixed(app, stub_upstream):
    """Two OpenAI-compatible accounts of equal priority: one serves Responses, one does not."""
    for gateway in serve(app, stub_upstream):
        for name, flagged in (("acct-flagged", True), ("acct-plain", False)):
            add_account(gateway.client, gateway.admin, stub_upstream, name,
                        baseUrl=stub_upstream.url + "/v1", supportsResponses=flagged)
        yield gateway


def test_each_account_is_reached_its_own_way_and_the_untranslatable_only_where_served(
        mixed):
    for n in range(4):  # different conversations (one would stick to its account)
        assert sdk(mixed).responses.create(model=GPT, input=f"hi {n}").output_text == ANSWER
    reached = {(entry["credential"], entry["path"]) for entry in mixed.chats()}
    assert reached == {("acct-flagged", "/v1/responses"),
                       ("acct-plain", "/v1/chat/completions")}
    before = len(mixed.chats())
    for n in range(4):
        sdk(mixed).responses.create(model=GPT, input=f"hi {n}",
                                    tools=[{"type": "web_search"}])
    assert {(entry["credential"], entry["path"]) for entry in mixed.chats()[before:]} == {
        ("acct-flagged", "/v1/responses")}
    assert len(mixed.events()) == 8


def test_json_mode_for_claude_is_a_400_naming_text_format(gateway, target):
    if target != "claude":
        response = sdk(gateway).responses.create(
            model=TARGETS[target][0], input="hi", text={"format": {"type": "json_object"}})
        assert response.output_text == ANSWER
        sent = gateway.chats()[0]["body"]
        assert sent.get("response_format", sent.get("text", {}).get("format")) == {
            "type": "json_object"}
        return
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway).responses.create(model=CLAUDE, input="hi",
                                      text={"format": {"type": "json_object"}})
    assert (raised.value.code, raised.value.param) == ("UNTRANSLATABLE", "text.format")
    assert gateway.chats() == [] and gateway.events() == []

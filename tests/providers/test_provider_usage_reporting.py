"""Providers keep usage reporting on whatever the caller asks, say whether a count is final,
and count every choice's delivered text, thinking and tool input for an estimate."""

from __future__ import annotations

import json

import pytest

from app.providers import ProviderError
from app.providers.anthropic import AnthropicEventParser
from app.providers.gemini import GeminiEventParser
from app.providers.openai import OpenAIEventParser
from scripts.stub_upstream import reply_tokens
from tests.providers.helpers import PROMPT_WORDS, PROVIDERS, hello_request

ANSWER = "".join(reply_tokens(12))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_callers_model_and_stream_never_replace_the_gateways(make_client, provider):
    client = make_client(provider)
    request = hello_request(extra={"model": "other-model", "stream": True, "top_p": 0.5})
    payload = client.payload(request, stream=False)
    assert payload.get("model", "stub-model") == "stub-model"
    assert payload.get("stream", False) is False
    assert payload["top_p"] == 0.5


def test_openai_streams_always_ask_for_usage_and_keep_the_callers_other_stream_options(
        make_client):
    client = make_client("openai")
    request = hello_request(extra={"stream_options": {"include_usage": False, "x": 1}})
    assert client.payload(request, stream=True)["stream_options"] == {"include_usage": True,
                                                                       "x": 1}
    unusable = hello_request(extra={"stream_options": None})
    assert client.payload(unusable, stream=True)["stream_options"] == {"include_usage": True}
    # OpenAI refuses stream_options on an answer sent whole.
    assert "stream_options" not in client.payload(request, stream=False)


def test_an_openai_stream_reports_usage_even_when_the_caller_turned_it_off(make_client,
                                                                         stub_upstream):
    request = hello_request(extra={"stream_options": {"include_usage": False}})
    with make_client("openai").stream(request) as stream:
        list(stream)
    assert stream.usage_final
    assert (stream.usage.input_tokens, stream.usage.output_tokens) == (PROMPT_WORDS, 12)


def test_an_openai_stream_of_several_choices_counts_each_choices_text(make_client,
                                                                      stub_upstream):
    stub_upstream.set_behaviour(noUsage=True)
    with make_client("openai").stream(hello_request(extra={"n": 3})) as stream:
        list(stream)
    assert not stream.usage_final
    assert stream.delivered_chars == 3 * len(ANSWER)
    assert stream.text == ANSWER  # the relayed text stays the first choice's


@pytest.mark.parametrize("provider", ["openai", "claude"])
def test_a_tool_call_counts_its_name_and_arguments(make_client, stub_upstream, provider):
    stub_upstream.set_behaviour(toolCall="lookup")
    with make_client(provider).stream(hello_request()) as stream:
        list(stream)
    assert stream.usage_final and stream.usage.output_tokens == 12
    assert stream.text == ""
    assert stream.delivered_chars == len("lookup") + len(ANSWER)


def test_a_whole_openai_answer_counts_every_choice_and_says_whether_usage_came(make_client,
                                                                              stub_upstream):
    stub_upstream.set_behaviour(noUsage=True, times=1)
    unreported = make_client("openai").complete(hello_request(extra={"n": 4}))
    assert not unreported.usage_final and unreported.delivered_chars == 4 * len(ANSWER)
    reported = make_client("openai").complete(hello_request(extra={"n": 4}))
    assert reported.usage_final and reported.usage.output_tokens == 48


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_whole_answer_without_usage_is_not_final(make_client, stub_upstream, provider):
    stub_upstream.set_behaviour(noUsage=True)
    result = make_client(provider).complete(hello_request())
    assert not result.usage_final
    assert result.delivered_chars == len(ANSWER)


def test_a_cut_anthropic_stream_keeps_its_provisional_count_apart_from_a_final_one(
        make_client, stub_upstream):
    stub_upstream.set_behaviour(dropAfterTokens=5)
    stream = make_client("claude").stream(hello_request())
    with pytest.raises(ProviderError):
        list(stream)
    assert not stream.usage_final
    assert stream.usage.output_tokens == 1  # message_start's provisional count
    assert stream.delivered_chars == len("".join(reply_tokens(5)))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_finished_stream_has_a_final_count(make_client, stub_upstream, provider):
    with make_client(provider).stream(hello_request()) as stream:
        list(stream)
    assert stream.usage_final and stream.usage.output_tokens == 12
    assert stream.delivered_chars == len(ANSWER)


def feed(parser, events: list[tuple[str | None, dict]]):
    for name, body in events:
        parser.parse(name, json.dumps(body))
    return parser


def test_anthropic_thinking_and_streamed_tool_input_are_counted():
    parser = feed(AnthropicEventParser(), [
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "hmm, so"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": "s" * 99}}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "tool_use", "id": "t",
                                                   "name": "find", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta",
                                           "partial_json": '{"q": 1}'}}),
    ])
    assert parser.delivered.chars == len("hmm, so") + len("find") + len('{"q": 1}')


def test_openai_compatible_reasoning_and_tool_arguments_are_counted_for_every_choice():
    parser = feed(OpenAIEventParser(), [(None, {"choices": [
        {"index": 0, "delta": {"reasoning_content": "think"}},
        {"index": 1, "delta": {"tool_calls": [{"index": 0, "function": {
            "name": "find", "arguments": '{"q"'}}]}},
    ]})])
    assert parser.delivered.chars == len("think") + len("find") + len('{"q"')


def test_gemini_thoughts_function_calls_and_every_candidate_are_counted():
    parser = feed(GeminiEventParser(), [(None, {"candidates": [
        {"index": 0, "content": {"parts": [{"text": "plan", "thought": True},
                                           {"functionCall": {"name": "find",
                                                             "args": {"q": 1}}}]}},
        {"index": 1, "content": {"parts": [{"text": "other"}]}},
    ]})])
    assert parser.delivered.chars == len("plan") + len("find") + len('{"q":1}') + len("other")


@pytest.mark.parametrize("parser, name, body", [
    (AnthropicEventParser(), "content_block_delta",
     {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}),
    (OpenAIEventParser(), None, {"choices": [{"index": 0, "delta": {"content": "hi"}}]}),
    (GeminiEventParser(), None, {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}),
], ids=["anthropic", "openai", "gemini"])
def test_a_parsed_event_hands_on_its_json_object_with_its_text_unchanged(parser, name, body):
    data = json.dumps(body)
    event = parser.parse(name, data)
    assert event.body == body and event.data == data and event.text == "hi"


def test_openais_done_marker_has_no_json_object():
    assert OpenAIEventParser().parse(None, "[DONE]").body is None

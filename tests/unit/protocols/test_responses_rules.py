"""The Responses API's translation rules beyond the fixtures: what needs state or OpenAI's own
tools is refused naming the member, what asks for nothing passes, a string input is one user
turn, and a stream always ends with `response.completed` carrying the usage once."""

from __future__ import annotations

import json

import pytest

from app.protocols import Untranslatable, openai_responses
from app.protocols.neutral import (
    BlockStart,
    BlockStop,
    Delta,
    End,
    Finish,
    Message,
    Start,
    Text,
    Usage,
)

HI = {"model": "m", "input": "hi"}


@pytest.mark.parametrize("member, value, named", [
    ("previous_response_id", "resp_1", "previous_response_id"),
    ("store", True, "store"),
    ("background", True, "background"),
    ("conversation", "conv_1", "conversation"),
    ("tools", [{"type": "web_search"}], "tools[0].type"),
    ("tools", [{"type": "function", "name": "f"}, {"type": "file_search"}], "tools[1].type"),
    ("include", ["file_search_call.results"], "include[0]"),
    ("prompt", {"id": "pmpt_1"}, "prompt"),
    ("input", [{"type": "item_reference", "id": "msg_1"}], "input[0].type"),
    ("input", [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}],
     "input[0].content[0].type"),
    ("tool_choice", {"type": "web_search_preview"}, "tool_choice.type"),
])
def test_what_a_translation_cannot_carry_is_refused_by_name(member, value, named):
    with pytest.raises(Untranslatable) as refused:
        openai_responses.request_to_neutral({**HI, member: value})
    assert refused.value.field == named


def test_members_that_ask_for_nothing_pass():
    request = openai_responses.request_to_neutral(
        {**HI, "store": False, "background": False, "truncation": "disabled", "metadata": {},
         "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k",
         "previous_response_id": None})
    assert request.messages == [Message("user", [Text("hi")])]


def test_reasoning_effort_asks_for_a_thinking_budget():
    request = openai_responses.request_to_neutral(
        {**HI, "reasoning": {"effort": "high", "summary": "auto"}})
    assert request.thinking_budget == 16384


def test_a_stream_ends_with_the_completed_response_and_its_usage_once():
    encoder = openai_responses.StreamEncoder(created=1)
    frames = []
    for event in [Start("msg_1", "claude"), BlockStart(0, "thinking"),
                  Delta(0, "thinking", "secret"), BlockStop(0), BlockStart(1, "text"),
                  Delta(1, "text", "hi"), BlockStop(1),
                  Finish("max_tokens", Usage(input=3, output=2, cache_read=4)), End()]:
        frames += encoder.encode(event)
    assert "secret" not in json.dumps(frames)
    assert [data["sequence_number"] for _, data in frames] == list(range(len(frames)))
    assert all(name == data["type"] for name, data in frames)
    name, last = frames[-1]
    assert name == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["usage"]["input_tokens"] == 7
    assert last["response"]["usage"]["input_tokens_details"] == {"cached_tokens": 4}
    assert [data.get("response", {}).get("usage") for _, data in frames[:-1]] \
        == [None] * (len(frames) - 1)

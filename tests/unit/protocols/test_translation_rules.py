"""The rules of translation that are not one fixture: stop reasons both ways, usage buckets,
what is refused (naming the member) or left out, tool names shortened and restored, and a
layer that imports nothing of Relaygate's outside app/protocols."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.protocols import Untranslatable, anthropic_messages, openai_chat
from app.protocols.names import ToolNames, shorten
from app.protocols.neutral import Answer, Text, ToolCall, Usage

PROTOCOLS = Path(__file__).resolve().parents[3] / "app" / "protocols"
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("anthropic, openai", [
    ("end_turn", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls")])
def test_stop_reasons_map_both_ways(anthropic, openai):
    claude = {"id": "m", "model": "c", "content": [], "stop_reason": anthropic}
    chat = openai_chat.answer_from_neutral(anthropic_messages.answer_to_neutral(claude),
                                           created=0)
    assert chat["choices"][0]["finish_reason"] == openai
    gpt = {"id": "c", "model": "g", "choices": [{"message": {}, "finish_reason": openai}]}
    message = anthropic_messages.answer_from_neutral(openai_chat.answer_to_neutral(gpt),
                                                     created=0)
    assert message["stop_reason"] == anthropic


def test_a_stop_sequence_is_openais_stop():
    claude = {"id": "m", "model": "c", "content": [], "stop_reason": "stop_sequence"}
    chat = openai_chat.answer_from_neutral(anthropic_messages.answer_to_neutral(claude),
                                           created=0)
    assert chat["choices"][0]["finish_reason"] == "stop"


def test_openais_prompt_includes_the_cache_and_anthropics_input_does_not():
    usage = Usage(input=10, output=5, cache_write=100, cache_read=300)
    chat = openai_chat.usage_from_neutral(usage)
    assert (chat["prompt_tokens"], chat["prompt_tokens_details"]["cached_tokens"]) == (410, 300)
    assert openai_chat.usage_to_neutral(chat) == Usage(input=110, output=5, cache_read=300)
    claude = anthropic_messages.usage_from_neutral(usage)
    assert anthropic_messages.usage_to_neutral(claude) == usage


@pytest.mark.parametrize("member, value, field", [
    ("n", 3, "n"), ("response_format", {"type": "json_schema", "json_schema": {}},
                    "response_format"),
    ("logprobs", True, "logprobs"),
    ("messages", [{"role": "user", "content": [{"type": "input_audio"}]}],
     "messages[0].content[0].type")])
def test_what_anthropic_cannot_carry_is_refused_by_name(member, value, field):
    body = {"model": "c", "messages": HI, member: value}
    with pytest.raises(Untranslatable) as refused:
        anthropic_messages.request_from_neutral(openai_chat.request_to_neutral(body))
    assert refused.value.field == field


def test_members_that_ask_for_nothing_are_no_trouble():
    body = {"model": "c", "messages": HI, "n": 1, "response_format": {"type": "text"},
            "frequency_penalty": 0, "presence_penalty": 0, "logprobs": False, "seed": None}
    out = anthropic_messages.request_from_neutral(openai_chat.request_to_neutral(body))
    assert set(out) == {"model", "messages", "max_tokens", "stream"}
    with pytest.raises(Untranslatable) as refused:
        openai_chat.request_to_neutral({**body, "presence_penalty": 0.5})
    assert refused.value.field == "presence_penalty"


@pytest.mark.parametrize("member, value, field", [
    ("top_k", 5, "top_k"), ("tools", [{"type": "bash_20250124", "name": "bash"}], "tools[0]"),
    ("messages", [{"role": "user", "content": [{"type": "document", "source": {}}]}],
     "messages[0].content[0].type")])
def test_what_openai_cannot_carry_is_refused_by_name(member, value, field):
    body = {"model": "g", "max_tokens": 8, "messages": HI, member: value}
    with pytest.raises(Untranslatable) as refused:
        openai_chat.request_from_neutral(anthropic_messages.request_to_neutral(body))
    assert refused.value.field == field


def test_thinking_and_a_tool_errors_flag_are_what_openai_leaves_out():
    body = {"model": "g", "max_tokens": 8, "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "is_error": True, "content": "x"}]}]}
    request = anthropic_messages.request_to_neutral(body)
    assert openai_chat.leaves_out(request) == {"thinking", "tool_result.is_error"}
    assert "reasoning_effort" not in openai_chat.request_from_neutral(request)


def test_thinking_never_leaks_into_an_openai_answers_text():
    claude = {"id": "m", "model": "c", "stop_reason": "end_turn", "content": [
        {"type": "thinking", "thinking": "secret", "signature": "s"},
        {"type": "text", "text": "hello"}]}
    chat = openai_chat.answer_from_neutral(anthropic_messages.answer_to_neutral(claude),
                                           created=0)
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": "hello"}
    assert "secret" not in str(chat)


def test_a_long_tool_name_is_shortened_the_same_way_every_time_and_restored():
    name = "mcp__" + "x" * 80
    short = shorten(name)
    assert len(short) == 64 and short == shorten(name) and short.startswith("mcp__x")
    assert shorten("Read") == "Read"
    names = ToolNames()
    request = openai_chat.request_to_neutral({"model": "c", "messages": HI, "tools": [
        {"type": "function", "function": {"name": name}}]})
    names.shorten_request(request)
    assert request.tools[0].name == short
    answer = Answer("m", "c", [Text("t"), ToolCall("id", short, "{}")], "tool_use")
    names.restore(answer)
    assert answer.parts[1].name == name


def test_the_protocols_import_nothing_of_relaygates_outside_the_package():
    for path in PROTOCOLS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            assert not module.startswith("app") or module.startswith("app.protocols"), (
                path.name, module)


@pytest.mark.parametrize("openai, parallel, anthropic", [
    ("auto", None, {"type": "auto"}), ("none", None, {"type": "none"}),
    ("required", None, {"type": "any"}),
    ({"type": "function", "function": {"name": "x"}}, None, {"type": "tool", "name": "x"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}), (None, None, None)])
def test_tool_choice_maps_both_ways(openai, parallel, anthropic):
    tools = [{"type": "function", "function": {"name": "x", "parameters": {}}}]
    body = {"model": "c", "messages": HI, "tools": tools, "tool_choice": openai,
            "parallel_tool_calls": parallel}
    claude = anthropic_messages.request_from_neutral(openai_chat.request_to_neutral(body))
    assert claude.get("tool_choice") == anthropic
    back = openai_chat.request_from_neutral(anthropic_messages.request_to_neutral(claude))
    # One call at a time says "auto" in Anthropic's terms, which is what no choice meant.
    expected = "auto" if (openai, parallel) == (None, False) else openai
    assert (back.get("tool_choice"), back.get("parallel_tool_calls")) == (expected, parallel)


@pytest.mark.parametrize("choice", ["tool", "any", "function"])
def test_a_tool_choice_string_openai_has_no_such_mode_for_is_refused_by_name(choice):
    tools = [{"type": "function", "function": {"name": "x", "parameters": {}}}]
    body = {"model": "c", "messages": HI, "tools": tools, "tool_choice": choice}
    with pytest.raises(Untranslatable) as refused:
        openai_chat.request_to_neutral(body)
    assert refused.value.field == "tool_choice"

"""The Gemini format's rules that are not one fixture: finish reasons both ways, usage counted
as the Gemini provider bills it, call ids made and paired by name and order, tool choice and
thinking settings both ways, and what is refused by name rather than dropped."""

from __future__ import annotations

import json

import pytest

from app.protocols import Untranslatable, anthropic_messages, gemini_generate, openai_chat
from app.protocols.neutral import Answer, Text, Thinking, Usage
from app.providers.gemini import gemini_usage

HI = [{"role": "user", "parts": [{"text": "hi"}]}]


def gemini_answer(reason: str, *parts: dict) -> dict:
    return {"responseId": "r", "modelVersion": "g", "candidates": [
        {"content": {"role": "model", "parts": list(parts) or [{"text": "x"}]},
         "finishReason": reason}]}


@pytest.mark.parametrize("reason, openai, anthropic", [
    ("STOP", "stop", "end_turn"), ("MAX_TOKENS", "length", "max_tokens"),
    ("SAFETY", "content_filter", "refusal"), ("RECITATION", "content_filter", "refusal"),
    ("PROHIBITED_CONTENT", "content_filter", "refusal"), ("OTHER", "stop", "end_turn")])
def test_geminis_finish_reasons_are_the_clients_stop_reasons(reason, openai, anthropic):
    answer = gemini_generate.answer_to_neutral(gemini_answer(reason))
    assert openai_chat.answer_from_neutral(answer, created=0)["choices"][0][
        "finish_reason"] == openai
    assert anthropic_messages.answer_from_neutral(answer, created=0)["stop_reason"] == anthropic


def test_a_function_call_with_stop_is_a_tool_call_stop_and_a_blocked_prompt_a_refusal():
    called = gemini_answer("STOP", {"functionCall": {"name": "f", "args": {}}})
    assert gemini_generate.answer_to_neutral(called).stop == "tool_use"
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {
        "promptTokenCount": 4, "totalTokenCount": 4}}
    assert gemini_generate.answer_to_neutral(blocked).stop == "refusal"


@pytest.mark.parametrize("stop, reason", [
    ("end", "STOP"), ("stop_sequence", "STOP"), ("tool_use", "STOP"),
    ("max_tokens", "MAX_TOKENS"), ("refusal", "SAFETY")])
def test_neutral_stops_are_geminis_finish_reasons(stop, reason):
    body = gemini_generate.answer_from_neutral(Answer("a", "m", [Text("x")], stop), created=0)
    assert body["candidates"][0]["finishReason"] == reason


def test_usage_is_counted_as_the_gemini_provider_bills_it_nothing_twice():
    block = {"promptTokenCount": 1300, "candidatesTokenCount": 20, "thoughtsTokenCount": 15,
             "cachedContentTokenCount": 1024, "totalTokenCount": 1335}
    usage = gemini_generate.usage_to_neutral(block)
    billed = gemini_usage(block)
    assert usage == Usage(input=billed.input_tokens, output=billed.output_tokens,
                          cache_read=billed.cache_read_tokens)
    assert (usage.input, usage.output, usage.cache_read) == (276, 35, 1024)
    chat = openai_chat.usage_from_neutral(usage)
    assert (chat["prompt_tokens"], chat["prompt_tokens_details"]["cached_tokens"]) == (1300,
                                                                                      1024)
    back = gemini_generate.usage_from_neutral(Usage(input=10, output=5, cache_write=100,
                                                    cache_read=300))
    assert back == {"promptTokenCount": 410, "candidatesTokenCount": 5,
                    "totalTokenCount": 415, "cachedContentTokenCount": 300}


def test_a_gemini_clients_calls_and_responses_pair_by_name_and_order_or_by_their_ids():
    body = {"contents": [*HI, {"role": "model", "parts": [
        {"functionCall": {"name": "f", "args": {"n": 1}}},
        {"functionCall": {"name": "g", "args": {}}},
        {"functionCall": {"name": "f", "args": {"n": 2}}},
        {"functionCall": {"id": "mine", "name": "g", "args": {}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "mine", "name": "g", "response": {"output": "4"}}},
            {"functionResponse": {"name": "f", "response": {"output": "1"}}},
            {"functionResponse": {"name": "f", "response": {"output": "2"}}},
            {"functionResponse": {"name": "g", "response": {"error": "no"}}}]}]}
    request = gemini_generate.request_to_neutral(body)
    calls = [(part.id, part.arguments) for part in request.messages[1].parts]
    assert calls == [("call_1_0", '{"n": 1}'), ("call_1_1", "{}"), ("call_1_2", '{"n": 2}'),
                     ("mine", "{}")]
    results = [(part.id, part.content[0].text, part.is_error)
               for part in request.messages[2].parts]
    assert results == [("mine", "4", False), ("call_1_0", "1", False),
                       ("call_1_2", "2", False), ("call_1_1", "no", True)]


def test_the_ids_gemini_answers_lack_are_unique_per_answer_and_come_back_named():
    answer = gemini_generate.answer_to_neutral(gemini_answer(
        "STOP", {"functionCall": {"name": "f", "args": {}}},
        {"functionCall": {"name": "f", "args": {"x": 1}}}))
    ids = [part.id for part in answer.parts]
    assert ids == ["call_r_0", "call_r_1"]
    chat = openai_chat.answer_from_neutral(answer, created=0)["choices"][0]["message"]
    turn = [{"role": "user", "content": "hi"}, chat,
            {"role": "tool", "tool_call_id": "call_r_1", "content": "ok"}]
    body = gemini_generate.request_from_neutral(openai_chat.request_to_neutral(
        {"model": "g", "messages": turn}))
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "f", "response": {"output": "ok"}}}]}


@pytest.mark.parametrize("config, choice", [
    ({"mode": "AUTO"}, "auto"), ({"mode": "NONE"}, "none"), ({"mode": "ANY"}, "required"),
    ({"mode": "ANY", "allowedFunctionNames": ["f"]},
     {"type": "function", "function": {"name": "f"}})])
def test_function_calling_modes_are_tool_choices_both_ways(config, choice):
    tools = [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}},
                                       {"name": "g"}]}]
    body = {"contents": HI, "tools": tools, "toolConfig": {"functionCallingConfig": config}}
    chat = openai_chat.request_from_neutral(gemini_generate.request_to_neutral(body))
    assert chat["tool_choice"] == choice
    assert chat["tools"][0]["function"]["parameters"] == {"type": "object"}
    back = gemini_generate.request_from_neutral(openai_chat.request_to_neutral(chat))
    assert back["toolConfig"] == {"functionCallingConfig": config}


@pytest.mark.parametrize("thinking, budget", [
    ({"thinkingBudget": 0}, None), ({"thinkingBudget": 2000}, 2000),
    ({"thinkingBudget": -1}, gemini_generate.DYNAMIC_BUDGET),
    ({"includeThoughts": True}, gemini_generate.DYNAMIC_BUDGET),
    ({"thinkingLevel": "high"}, 16384), ({}, None)])
def test_thinking_settings_become_a_budget(thinking, budget):
    body = {"contents": HI, "generationConfig": {"thinkingConfig": thinking}}
    assert gemini_generate.request_to_neutral(body).thinking_budget == budget


@pytest.mark.parametrize("body, field", [
    ({"safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH"}]}, "safetySettings"),
    ({"cachedContent": "cachedContents/abc"}, "cachedContent"),
    ({"generationConfig": {"topK": 5}}, "generationConfig.topK"),
    ({"tools": [{"googleSearch": {}}]}, "tools[0].googleSearch"),
    ({"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [
        "a", "b"]}}, "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"},
                                                        {"name": "c"}]}]},
     "toolConfig.functionCallingConfig.allowedFunctionNames"),
    ({"contents": [{"role": "user", "parts": [{"inlineData": {
        "mimeType": "application/pdf", "data": "JVBE"}}]}]},
     "contents[0].parts[0].inlineData.mimeType"),
    ({"contents": [{"role": "user", "parts": [{"executableCode": {"code": "1"}}]}]},
     "contents[0].parts[0]"),
    ({"contents": [{"role": "user", "parts": [{"functionResponse": {
        "name": "f", "response": {}}}]}]}, "contents[0].parts[0].functionResponse.name"),
    ({"generationConfig": {"responseMimeType": "text/x.enum"}},
     "generationConfig.responseMimeType")])
def test_what_only_gemini_has_is_refused_by_name(body, field):
    with pytest.raises(Untranslatable) as refused:
        gemini_generate.request_to_neutral({"contents": HI, **body})
    assert refused.value.field == field


@pytest.mark.parametrize("member, value, field", [
    ("parallel_tool_calls", False, "parallel_tool_calls"),
    ("stop", ["1", "2", "3", "4", "5", "6"], "stop"),
    ("messages", [{"role": "tool", "tool_call_id": "gone", "content": "x"}],
     "messages[0].tool_result")])
def test_what_gemini_cannot_take_is_refused_by_name(member, value, field):
    body = {"model": "g", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], member: value}
    with pytest.raises(Untranslatable) as refused:
        gemini_generate.request_from_neutral(openai_chat.request_to_neutral(body))
    assert refused.value.field == field


def test_several_choices_go_as_candidates_but_never_in_a_translated_stream():
    body = {"model": "g", "messages": [{"role": "user", "content": "hi"}], "n": 3}
    request = openai_chat.request_to_neutral(body)
    assert gemini_generate.request_from_neutral(request)["generationConfig"] == {
        "candidateCount": 3}
    request.stream = True
    with pytest.raises(Untranslatable) as refused:
        gemini_generate.request_from_neutral(request)
    assert refused.value.field == "n"


def test_another_providers_thinking_and_the_end_user_are_what_gemini_leaves_out():
    body = {"model": "c", "max_tokens": 8, "metadata": {"user_id": "u"}, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "enc"},
                                          {"type": "text", "text": "yes"}]},
        {"role": "user", "content": "more"}]}
    request = anthropic_messages.request_to_neutral(body)
    assert gemini_generate.leaves_out(request) == {"thinking", "user"}
    out = gemini_generate.request_from_neutral(request)
    assert out["contents"][1] == {"role": "model", "parts": [{"text": "yes"}]}


def test_anthropics_redacted_thinking_goes_to_a_gemini_client_and_back_whole():
    answer = Answer("m", "c", [Thinking(redacted="enc"), Text("yes")], "end")
    model_turn = gemini_generate.answer_from_neutral(answer, created=0)["candidates"][0][
        "content"]
    request = gemini_generate.request_to_neutral({"contents": [*HI, model_turn, *HI]})
    claude = anthropic_messages.request_from_neutral(request)
    assert claude["messages"][1]["content"] == [{"type": "redacted_thinking", "data": "enc"},
                                                {"type": "text", "text": "yes"}]


def test_a_signature_on_an_empty_closing_text_goes_back_on_an_empty_text():
    chunks = [{"responseId": "r", "candidates": [{"content": {"parts": [{"text": "Hi"}]}}]},
              {"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "s"}]},
                               "finishReason": "STOP"}]}]
    decoder, encoder = gemini_generate.StreamDecoder(), anthropic_messages.StreamEncoder()
    blocks: list[dict] = []
    for chunk in chunks:
        for event in decoder.feed(None, json.dumps(chunk)):
            for name, data in encoder.encode(event):
                if name == "content_block_start":
                    blocks.append(dict(data["content_block"]))
                elif name == "content_block_delta":
                    delta = data["delta"]
                    key = {"text_delta": "text", "signature_delta": "signature"}[delta["type"]]
                    blocks[-1][key] += delta[key]
    assert blocks == [{"type": "text", "text": "Hi"},
                      {"type": "thinking", "thinking": "", "signature": "s"}]
    turn = {"model": "g", "max_tokens": 8, "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": blocks},
        {"role": "user", "content": "more"}]}
    body = gemini_generate.request_from_neutral(anthropic_messages.request_to_neutral(turn))
    assert body["contents"][1] == {"role": "model", "parts": [
        {"text": "Hi"}, {"text": "", "thoughtSignature": "s"}]}

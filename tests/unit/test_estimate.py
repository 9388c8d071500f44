"""The token estimate: about four characters a token over the whole prompt and every output."""

import json

from app.providers.base import ChatRequest, Usage
from app.providers.estimate import Delivered, billable, prompt_tokens, text_chars, tokens


def test_tokens_are_four_characters_each_rounded_up():
    assert [tokens(n) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


def test_text_blocks_count_their_text_and_tool_inputs_their_json_but_not_images_or_ids():
    content = [
        {"type": "text", "text": "x" * 10, "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "base64", "data": "A" * 5000}},
        {"type": "image_url", "image_url": {"url": "https://example.com/" + "p" * 500}},
        {"type": "tool_use", "id": "toolu_1", "name": "find", "input": {"q": "abc"}},
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text",
                                                                        "text": "y" * 7}]},
    ]
    assert text_chars(content) == 10 + len("find") + len('{"q":"abc"}') + 7


def test_openai_tool_calls_count_their_name_and_arguments():
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "find", "arguments": '{"q": "abc"}'}}]}
    assert text_chars(message) == len("find") + len('{"q": "abc"}')


def test_the_prompt_counts_the_system_every_message_and_the_tool_definitions():
    tools = [{"type": "function", "function": {"name": "find", "description": "d" * 100}}]
    request = ChatRequest(
        model="m", system=[{"type": "text", "text": "s" * 40}],
        messages=[{"role": "user", "content": "u" * 20},
                  {"role": "assistant", "content": [{"type": "text", "text": "a" * 20}]},
                  {"role": "user", "parts": [{"text": "g" * 20}]}],
        extra={"tools": tools, "temperature_hint": "z" * 1000})
    compact = len(json.dumps(tools, separators=(",", ":")))
    assert prompt_tokens(request) == tokens(40 + 20 + 20 + 20 + compact)


def test_delivered_output_adds_text_and_tool_input_as_json():
    delivered = Delivered()
    delivered.add_text("hello")
    delivered.add_text([{"type": "text", "text": "abc"}])
    delivered.add_json('{"a"')
    delivered.add_json({"b": 1})
    delivered.add_text(None)
    delivered.add_json(None)
    assert delivered.chars == 5 + 3 + 4 + len('{"b":1}')


def test_a_final_usage_is_billed_as_reported():
    usage = Usage(input_tokens=10, output_tokens=3)
    assert billable(usage, final=True, delivered_chars=4000, prompt=500) is usage


def test_a_provisional_count_is_raised_to_the_estimate_of_what_was_delivered():
    usage = Usage(input_tokens=10, output_tokens=1, cache_read_tokens=5)
    assert billable(usage, final=False, delivered_chars=41, prompt=500) == Usage(
        input_tokens=10, output_tokens=11, cache_read_tokens=5, estimated=True)


def test_a_provisional_count_above_the_estimate_is_kept():
    usage = Usage(input_tokens=10, output_tokens=30)
    assert billable(usage, final=False, delivered_chars=8, prompt=500).output_tokens == 30


def test_no_reported_usage_bills_the_prompt_estimate_and_the_delivered_output():
    assert billable(Usage(), final=False, delivered_chars=9, prompt=70) == Usage(
        input_tokens=70, output_tokens=3, estimated=True)


def test_a_prompt_read_wholly_from_cache_is_not_estimated_again():
    usage = Usage(input_tokens=0, cache_read_tokens=100)
    assert billable(usage, final=False, delivered_chars=0, prompt=70).input_tokens == 0

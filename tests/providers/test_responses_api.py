"""An OpenAI account that serves the Responses API, over real HTTP against the stub: the
client's Responses body goes to `{base_url}/responses` as sent (but for the model), and the
usage is read from the answer or the stream's `response.completed`, the cached tokens taken
out of the input bucket once."""

from __future__ import annotations

from app.providers.base import ChatRequest, Usage

BODY = {"model": "client-model", "instructions": "be brief", "store": False,
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "one two three"}]}]}


def responses_request(stream: bool, **body) -> ChatRequest:
    return ChatRequest(model="gpt-upstream", messages=[], stream=stream,
                       native={"model": "gpt-upstream", "messages": []},
                       responses={**BODY, **body})


def test_a_flagged_account_gets_the_responses_body_as_sent_and_reads_its_usage(make_client,
                                                                                stub_upstream):
    stub_upstream.set_behaviour(cacheReadTokens=30)
    client = make_client("openai", supports_responses=True)
    result = client.complete(responses_request(False, max_output_tokens=5))
    (sent,) = stub_upstream.requests()
    assert sent["path"].endswith("/v1/responses") and sent["format"] == "responses"
    assert sent["body"] == {**BODY, "model": "gpt-upstream", "max_output_tokens": 5}
    # input: the 5 prompt words (instructions too) plus the 30 cached, counted inside by Responses.
    assert result.usage == Usage(input_tokens=5, output_tokens=5, cache_read_tokens=30)
    assert result.text == "The quick brown fox jumps" and result.usage_final


def test_a_flagged_accounts_stream_is_relayed_event_by_event_with_the_final_usage(
        make_client, stub_upstream):
    stub_upstream.set_behaviour(toolCall="shell", jsonArguments=True, cacheReadTokens=7)
    client = make_client("openai", supports_responses=True)
    stream = client.stream(responses_request(True, max_output_tokens=3))
    events = list(stream)
    assert [event.event for event in events][:3] == [
        "response.created", "response.in_progress", "response.output_item.added"]
    assert events[-1].event == "response.completed"
    assert [e.event for e in events].count("response.function_call_arguments.delta") == 3
    assert stream.usage == Usage(input_tokens=5, output_tokens=3, cache_read_tokens=7)
    assert stream.usage_final
    assert stub_upstream.requests()[0]["body"]["stream"] is True


def test_an_account_without_the_flag_gets_the_chat_completions_translation(make_client,
                                                                          stub_upstream):
    client = make_client("openai")
    client.complete(responses_request(False))
    (sent,) = stub_upstream.requests()
    assert sent["path"].endswith("/v1/chat/completions")
    assert sent["body"] == {"model": "gpt-upstream", "messages": []}

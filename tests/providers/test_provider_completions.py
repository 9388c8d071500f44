"""Each client completes and streams a chat against the stub, and reads usage the same way."""

from __future__ import annotations

import pytest

from app.providers import Usage
from scripts.stub_upstream import reply_tokens
from tests.providers.helpers import PROMPT_WORDS, PROVIDERS, hello_request

EXPECTED_TEXT = "".join(reply_tokens(12))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_completion_returns_the_reply_text_and_its_usage(make_client, provider):
    result = make_client(provider).complete(hello_request())

    assert result.text == EXPECTED_TEXT
    assert result.usage == Usage(input_tokens=PROMPT_WORDS, output_tokens=12)
    assert result.usage.total_tokens == PROMPT_WORDS + 12
    assert result.raw


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_yields_the_reply_text_and_ends_with_the_full_usage(make_client, provider):
    with make_client(provider).stream(hello_request()) as stream:
        events = list(stream)

    assert "".join(event.text for event in events) == EXPECTED_TEXT
    assert stream.text == EXPECTED_TEXT
    assert stream.usage == Usage(input_tokens=PROMPT_WORDS, output_tokens=12)
    assert [event.usage for event in events if event.usage][-1] == stream.usage


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_cache_tokens_are_reported_apart_from_uncached_input(
    make_client, stub_upstream, provider, streamed
):
    stub_upstream.set_behaviour(credential="cached", cacheReadTokens=40, cacheWriteTokens=9)
    client = make_client(provider, api_key="cached")

    if streamed:
        with client.stream(hello_request()) as stream:
            list(stream)
        usage = stream.usage
    else:
        usage = client.complete(hello_request()).usage

    # Only Anthropic reports cache writes; OpenAI and Gemini fold cache reads into their
    # prompt count, which the clients take back out.
    expected_writes = 9 if provider == "claude" else 0
    assert usage == Usage(
        PROMPT_WORDS, 12, cache_write_tokens=expected_writes, cache_read_tokens=40
    )
    assert usage.prompt_tokens == PROMPT_WORDS + expected_writes + 40


def test_stream_events_keep_the_raw_data_and_event_names_for_relaying(make_client):
    with make_client("claude").stream(hello_request()) as stream:
        events = list(stream)

    assert [event.event for event in events][:3] == [
        "message_start",
        "content_block_start",
        "ping",
    ]
    assert events[-1].event == "message_stop"
    assert events[-1].data == '{"type": "message_stop"}'


def test_the_openai_stream_ends_with_the_done_marker_and_asks_for_usage(make_client, stub_upstream):
    with make_client("openai").stream(hello_request(max_tokens=3)) as stream:
        events = list(stream)

    assert events[-1].data == "[DONE]"
    body = stub_upstream.requests()[-1]["body"]
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 3
    assert stream.usage.output_tokens == 3


def test_openai_gets_the_system_prompt_as_the_first_message(make_client, stub_upstream):
    make_client("openai").complete(hello_request(system="Be brief.", temperature=0.2))

    body = stub_upstream.requests()[-1]["body"]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["temperature"] == 0.2
    assert stub_upstream.requests()[-1]["headers"]["authorization"] == "Bearer test-key"


def test_anthropic_gets_the_system_prompt_top_level_and_a_default_max_tokens(
    make_client, stub_upstream
):
    request = hello_request(system="Be brief.")
    request.messages.insert(0, {"role": "system", "content": "Answer in English."})

    make_client("claude").complete(request)

    entry = stub_upstream.requests()[-1]
    assert entry["body"]["system"] == "Be brief.\n\nAnswer in English."
    assert [message["role"] for message in entry["body"]["messages"]] == ["user"]
    assert entry["body"]["max_tokens"] == 1024
    assert entry["headers"]["x-api-key"] == "test-key"
    assert entry["headers"]["anthropic-version"] == "2023-06-01"


def test_anthropic_oauth_tokens_go_as_bearer_with_the_oauth_beta(make_client, stub_upstream):
    make_client("claude", api_key=None, access_token="oauth-access").complete(hello_request())

    headers = stub_upstream.requests()[-1]["headers"]
    assert headers["authorization"] == "Bearer oauth-access"
    assert headers["anthropic-beta"] == "oauth-2025-04-20"
    assert "x-api-key" not in headers


def test_gemini_gets_contents_with_model_roles_and_a_system_instruction(make_client, stub_upstream):
    request = hello_request(system="Be brief.", max_tokens=4, model="gemini-test")
    request.messages += [
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": [{"type": "text", "text": "Again"}]},
    ]

    result = make_client("gemini").complete(request)

    entry = stub_upstream.requests()[-1]
    assert entry["path"] == "/v1beta/models/gemini-test:generateContent"
    assert [content["role"] for content in entry["body"]["contents"]] == ["user", "model", "user"]
    assert entry["body"]["contents"][2]["parts"] == [{"text": "Again"}]
    assert entry["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert entry["body"]["generationConfig"] == {"maxOutputTokens": 4}
    assert entry["headers"]["x-goog-api-key"] == "test-key"
    assert result.usage.output_tokens == 4


def test_extra_options_are_merged_into_the_payload(make_client, stub_upstream):
    request = hello_request(max_tokens=4, extra={"generationConfig": {"topK": 3}, "labels": {}})

    make_client("gemini").complete(request)

    body = stub_upstream.requests()[-1]["body"]
    assert body["generationConfig"] == {"maxOutputTokens": 4, "topK": 3}
    assert body["labels"] == {}


def test_clients_share_one_pooled_connection(make_client, stub_upstream):
    for provider in PROVIDERS:
        make_client(provider).complete(hello_request())

    ports = {entry["clientPort"] for entry in stub_upstream.requests()}
    assert len(ports) == 1


def test_an_unknown_provider_name_is_refused():
    from app.providers import client_for

    with pytest.raises(ValueError, match="unknown provider"):
        client_for("mistral", api_key="k")

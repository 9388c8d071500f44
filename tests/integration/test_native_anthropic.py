"""Claude Code and the anthropic SDK through /v1/messages over real HTTP, on both backends:
the request reaches a Claude account as sent but for model and credentials, the answer comes
back whole, and every refusal is the SDK's typed error."""

from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import httpx
import pytest

from app.providers.estimate import tokens
from scripts.stub_upstream import SIGNATURE, reply_tokens
from tests.api.chat_support import add_account
from tests.integration.native_support import (
    ACCOUNT_KEY,
    ANSWER,
    CLAUDE,
    CLAUDE_UPSTREAM,
    serve,
)

SYSTEM = [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
          {"type": "text", "text": "Project notes: keep answers short.",
           "cache_control": {"type": "ephemeral"}}]
TOOLS = [{"name": "Read", "description": "Read a file",
          "input_schema": {"type": "object", "properties": {"q": {"type": "string"}},
                           "required": ["q"]}}]
CLAUDE_CODE = {
    "max_tokens": 2048, "system": SYSTEM, "tools": TOOLS, "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "metadata": {"user_id": "user_ab12_account_0b1e_session_5d3c"},
    "messages": [{"role": "user", "content": [
        {"type": "text", "text": "read the notes", "cache_control": {"type": "ephemeral"}}]}],
}
BETA = "claude-code-20250219,interleaved-thinking-2025-05-14"
# A member no SDK knows yet still travels.
FUTURE = {"future_option": {"on": True}}
# The client's protocol headers (its version differs from the one Relaygate itself sends).
HEADERS = {"anthropic-beta": BETA, "anthropic-version": "2099-01-01"}
THINKING = "The user wants the notes read"
GEMINI = "gemini/gemini-2.5-flash"


@pytest.fixture
def gateway(app, stub_upstream):
    yield from serve(app, stub_upstream)


def sdk(gateway, prefix: str = "", **credentials) -> anthropic.Anthropic:
    credentials = credentials or {"api_key": gateway.key["apiKey"]}
    return anthropic.Anthropic(base_url=gateway.url + prefix, max_retries=0, timeout=30,
                               **credentials)


def claude_code_answer(gateway) -> None:
    gateway.add_account("claude")
    gateway.stub.set_behaviour(thinking=THINKING, toolCall="Read", textBeforeTool=True)


def assert_whole(message) -> None:
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.thinking == THINKING and thinking.signature == SIGNATURE
    assert text.text == ANSWER
    assert (tool.name, tool.input) == ("Read", {"q": ANSWER})
    assert message.stop_reason == "tool_use"


def assert_reached_unchanged(gateway, stream: bool) -> None:
    (received,) = gateway.chats()
    body = dict(received["body"])
    assert body.pop("model") == CLAUDE_UPSTREAM
    assert body.pop("stream", False) is stream
    assert body == {**CLAUDE_CODE, **FUTURE}
    headers = received["headers"]
    assert headers["anthropic-beta"] == BETA
    assert headers["anthropic-version"] == "2099-01-01"
    assert headers["user-agent"].startswith("Anthropic/Python")
    assert headers["x-stainless-lang"] == "python"
    assert headers["x-api-key"] == ACCOUNT_KEY["claude"]
    assert "authorization" not in headers
    assert not any(gateway.key["apiKey"] in value for value in headers.values())


def test_a_claude_code_request_reaches_the_upstream_unchanged_and_its_answer_comes_back_whole(
        gateway):
    claude_code_answer(gateway)
    message = sdk(gateway).messages.create(model=CLAUDE, **CLAUDE_CODE,
                                           extra_headers=HEADERS, extra_body=FUTURE)
    assert_whole(message)
    assert message.model == CLAUDE_UPSTREAM  # the upstream's answer, not rewritten
    assert_reached_unchanged(gateway, stream=False)
    event = gateway.event()
    assert (event["output"], event["estimated"]) == (12, False)


def test_a_streamed_claude_code_request_relays_every_event_and_the_answer_comes_back_whole(
        gateway):
    claude_code_answer(gateway)
    seen = []
    with sdk(gateway).messages.stream(model=CLAUDE, **CLAUDE_CODE,
                                      extra_headers=HEADERS, extra_body=FUTURE) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                seen.append(event.delta.type)
        message = stream.get_final_message()
    assert {"thinking_delta", "signature_delta", "text_delta", "input_json_delta"} <= set(seen)
    assert_whole(message)
    assert_reached_unchanged(gateway, stream=True)
    event = gateway.event()
    assert (event["output"], event["estimated"]) == (12, False)


@pytest.mark.parametrize("prefix, credentials", [
    ("", "api_key"), ("/api", "auth_token"), ("/claude", "api_key")])
def test_the_crs_prefixes_answer_with_a_bearer_token_or_an_x_api_key(gateway, prefix,
                                                                     credentials):
    gateway.add_account("claude")
    client = sdk(gateway, prefix, **{credentials: gateway.key["apiKey"]})
    # The beta namespace adds ?beta=true, as Claude Code does.
    message = client.beta.messages.create(
        model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == ANSWER
    (received,) = gateway.chats()
    assert received["path"] == "/v1/messages"
    assert received["headers"]["x-api-key"] == ACCOUNT_KEY["claude"]


def test_an_api_key_header_authenticates_and_never_goes_upstream(gateway):
    gateway.add_account("claude")
    response = httpx.post(f"{gateway.url}/v1/messages", headers={
        "api-key": gateway.key["apiKey"], "cookie": "session=secret", "connection": "close"},
        json={"model": CLAUDE, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == ANSWER
    headers = gateway.chats()[0]["headers"]
    assert "cookie" not in headers and "api-key" not in headers
    assert headers["x-api-key"] == ACCOUNT_KEY["claude"]


def test_count_tokens_is_answered_by_a_claude_accounts_own_endpoint(gateway):
    gateway.add_account("claude")
    raw = sdk(gateway, "/api").messages.with_raw_response.count_tokens(
        model=CLAUDE, system="be brief",
        messages=[{"role": "user", "content": "count these words"}])
    assert raw.parse().input_tokens == 5  # the stub counts a token a word
    assert "x-relaygate-estimated" not in raw.headers
    (received,) = [entry for entry in gateway.stub.requests() if entry["path"].endswith(
        "/count_tokens")]
    assert received["body"]["model"] == CLAUDE_UPSTREAM
    assert received["credential"] == ACCOUNT_KEY["claude"]
    assert gateway.events() == []  # counting is not billed


def test_count_tokens_without_a_claude_account_answers_an_estimate_marked_as_one(gateway):
    raw = sdk(gateway).messages.with_raw_response.count_tokens(
        model=CLAUDE, messages=[{"role": "user", "content": "x" * 400}])
    assert raw.headers["x-relaygate-estimated"] == "true"
    assert raw.parse().input_tokens == 100  # four characters a token


def test_cache_tokens_are_recorded_once_with_the_one_hour_writes_priced_apart(gateway):
    gateway.add_account("claude")
    gateway.stub.set_behaviour(cacheWriteTokens=1000, cacheWrite1hTokens=400,
                               cacheReadTokens=300)
    with sdk(gateway).messages.stream(model=CLAUDE, max_tokens=64,
                                      messages=[{"role": "user", "content": "hi"}]) as stream:
        message = stream.get_final_message()
    assert message.usage.cache_creation_input_tokens == 1000
    event = gateway.event()
    assert (event["cache_write"], event["cache_read"]) == (1000, 300)
    # Sonnet 4.5: input 3, output 15, 5-minute write 3.75, 1-hour write 6 (2x input), read 0.30.
    expected = (Decimal(1) * 3 + 12 * 15 + 600 * Decimal("3.75") + 400 * 6
                + 300 * Decimal("0.30")) / 1_000_000
    assert event["cost"] == expected.quantize(Decimal("0.00000001"))


def test_an_upstream_failure_mid_stream_ends_with_anthropics_error_event(gateway):
    gateway.add_account("claude")
    gateway.stub.set_behaviour(failAfterTokens=3, status=529, message="overloaded now")
    with httpx.stream("POST", f"{gateway.url}/v1/messages",
                      headers={"x-api-key": gateway.key["apiKey"]},
                      json={"model": CLAUDE, "max_tokens": 64, "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]},
                      timeout=30) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-2] == "event: error"
    error = json.loads(lines[-1].removeprefix("data: "))
    assert error["type"] == "error" and error["error"]["type"] == "overloaded_error"
    assert "overloaded now" in error["error"]["message"]
    event = gateway.event()  # what was relayed is billed, estimated
    assert event["estimated"] and event["output"] == tokens(len("".join(reply_tokens(3))))


def test_an_unknown_model_is_the_sdks_not_found_error(gateway):
    gateway.add_account("claude")
    with pytest.raises(anthropic.NotFoundError) as raised:
        sdk(gateway).messages.create(model="claude-nonexistent", max_tokens=8,
                                     messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body["error"]["type"] == "not_found_error"
    assert "MODEL_NOT_FOUND" in raised.value.message


def test_a_key_without_claude_permission_is_the_sdks_permission_denied_error(gateway):
    gateway.add_account("claude")
    key = gateway.new_key(permissions="openai")
    with pytest.raises(anthropic.PermissionDeniedError) as raised:
        anthropic.Anthropic(base_url=gateway.url, api_key=key["apiKey"], max_retries=0).\
            messages.create(model=CLAUDE, max_tokens=8,
                            messages=[{"role": "user", "content": "hi"}])
    assert "PROVIDER_NOT_ALLOWED" in raised.value.message
    assert gateway.chats() == []


def test_a_key_past_its_requests_per_minute_is_the_sdks_rate_limit_error(gateway):
    gateway.add_account("claude")
    key = gateway.new_key(requestsPerMinute=1)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=key["apiKey"], max_retries=0)
    ask = {"model": CLAUDE, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    client.messages.create(**ask)
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(**ask)
    assert raised.value.body["error"]["type"] == "rate_limit_error"
    assert int(raised.value.response.headers["retry-after"]) >= 1
    assert len(gateway.chats()) == 1


def test_a_bad_key_is_the_sdks_authentication_error(gateway):
    with pytest.raises(anthropic.AuthenticationError) as raised:
        anthropic.Anthropic(base_url=gateway.url, api_key="rg_not-a-key", max_retries=0).\
            messages.create(model=CLAUDE, max_tokens=8,
                            messages=[{"role": "user", "content": "hi"}])
    assert raised.value.body["error"]["type"] == "authentication_error"


def test_a_gemini_model_answers_through_translation_now_that_it_has_landed(gateway):
    add_account(gateway.client, gateway.admin, gateway.stub, "acct-gemini-secret",
                provider="gemini", baseUrl=gateway.stub.url)
    message = sdk(gateway).messages.create(model=GEMINI, max_tokens=8,
                                           messages=[{"role": "user", "content": "hi"}])
    assert (message.content[0].text, message.stop_reason) == ("".join(reply_tokens(8)),
                                                              "end_turn")
    assert [chat["format"] for chat in gateway.chats()] == ["gemini"]
    assert gateway.event()["output"] == 8


def test_a_stream_the_client_abandons_closes_the_upstream_and_bills_what_was_relayed(gateway):
    gateway.add_account("claude")
    gateway.stub.set_behaviour(tokens=40, tokenDelay=0.05)
    with sdk(gateway).messages.stream(model=CLAUDE, max_tokens=64,
                                      messages=[{"role": "user", "content": "hi"}]) as stream:
        seen = []
        for text in stream.text_stream:
            seen.append(text)
            if len(seen) == 5:
                break  # leaving the block closes the connection
    event = gateway.event()
    (received,) = gateway.chats()
    assert received["completed"] is False and received["tokensSent"] < 40
    assert event["estimated"] is True and event["input"] == 1  # message_start said so
    assert tokens(len("".join(seen))) <= event["output"] < 40

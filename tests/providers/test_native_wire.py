"""The pure parts of relaying a client's own protocol: which headers travel, what the body
becomes, how the 1-hour cache write is read and priced, and the OAuth beta flag."""

from __future__ import annotations

from decimal import Decimal

from app.providers.anthropic import OAUTH_BETA, AnthropicClient, merge_usage
from app.providers.base import ChatRequest, ProviderAccount, Usage
from app.providers.forwarding import forwarded_headers, merged_beta
from app.providers.openai import OpenAIClient, is_usage_chunk
from app.services.catalogue.pricing import ModelPrices


def native_request(body: dict, headers: dict | None = None, stream: bool = False) -> ChatRequest:
    return ChatRequest(model="upstream-model", messages=body["messages"], stream=stream,
                       native=body, headers=headers or {})


def test_only_identity_and_protocol_headers_are_forwarded():
    sent = [("Authorization", "Bearer rg_client"), ("x-api-key", "rg_client"),
            ("api-key", "rg_client"), ("Cookie", "a=b"), ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"), ("Host", "gateway"),
            ("User-Agent", "claude-cli/2.0"), ("anthropic-version", "2023-06-01"),
            ("Anthropic-Beta", "x"), ("anthropic-dangerous-direct-browser-access", "true"),
            ("X-Stainless-Lang", "js"), ("x-stainless-retry-count", "0")]
    assert forwarded_headers(sent) == {
        "user-agent": "claude-cli/2.0", "anthropic-version": "2023-06-01",
        "anthropic-beta": "x", "anthropic-dangerous-direct-browser-access": "true",
        "x-stainless-lang": "js", "x-stainless-retry-count": "0"}


def test_the_oauth_beta_flag_joins_the_clients_flags_once():
    assert merged_beta(None, OAUTH_BETA) == OAUTH_BETA
    assert merged_beta("a, b", OAUTH_BETA) == f"a,b,{OAUTH_BETA}"
    assert merged_beta(f"{OAUTH_BETA},a", OAUTH_BETA) == f"{OAUTH_BETA},a"


def test_an_oauth_account_sends_its_token_and_the_clients_headers_with_the_beta_merged():
    client = AnthropicClient(ProviderAccount(base_url="http://stub", access_token="at-1"))
    request = native_request({"messages": []}, {"anthropic-beta": "claude-code-20250219",
                                                "anthropic-version": "2099-01-01",
                                                "user-agent": "claude-cli/2.0"})
    headers = client.request_headers(request)
    assert headers["Authorization"] == "Bearer at-1"
    assert headers["anthropic-beta"] == f"claude-code-20250219,{OAUTH_BETA}"
    assert headers["anthropic-version"] == "2099-01-01"
    assert headers["user-agent"] == "claude-cli/2.0"


def test_an_api_key_account_sends_the_clients_beta_flags_alone():
    client = AnthropicClient(ProviderAccount(base_url="http://stub", api_key="sk-1"))
    headers = client.request_headers(native_request({"messages": []}, {"anthropic-beta": "b"}))
    assert (headers["x-api-key"], headers["anthropic-beta"]) == ("sk-1", "b")
    assert "Authorization" not in headers


def test_a_native_body_changes_only_model_and_the_stream_flag_and_keeps_its_order():
    body = {"model": "claude/x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
            "temperature": 1, "future": {"a": [1]}}
    client = AnthropicClient(ProviderAccount(base_url="http://stub", api_key="sk"))
    sent = client.payload(native_request(body), stream=False)
    assert sent == {**body, "model": "upstream-model"} and list(sent) == list(body)
    assert client.payload(native_request(body), stream=True)["stream"] is True


def test_a_native_openai_stream_always_asks_for_usage_keeping_the_clients_other_options():
    body = {"model": "m", "messages": [], "stream": True, "n": 2,
            "stream_options": {"include_obfuscation": False}}
    client = OpenAIClient(ProviderAccount(base_url="http://stub/v1", api_key="sk"))
    sent = client.payload(native_request(body, stream=True), stream=True)
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert sent["n"] == 2 and "max_completion_tokens" not in sent


def test_only_the_usage_only_chunk_counts_as_the_usage_chunk():
    assert is_usage_chunk('{"choices":[],"usage":{"prompt_tokens":1}}')
    assert not is_usage_chunk('{"choices":[{"index":0,"delta":{}}],"usage":null}')


def test_the_one_hour_cache_write_is_read_from_anthropics_split():
    usage = merge_usage(Usage(), {"input_tokens": 3, "cache_creation_input_tokens": 1000,
                                  "cache_creation": {"ephemeral_5m_input_tokens": 600,
                                                     "ephemeral_1h_input_tokens": 400}})
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (1000, 400)
    only_split = merge_usage(Usage(), {"cache_creation": {"ephemeral_5m_input_tokens": 6,
                                                          "ephemeral_1h_input_tokens": 4}})
    assert (only_split.cache_write_tokens, only_split.cache_write_1h_tokens) == (10, 4)


def test_one_hour_cache_writes_are_priced_apart_and_default_to_the_cache_write_price():
    prices = ModelPrices(input=Decimal(3), cache_write=Decimal("3.75"), cache_write_1h=Decimal(6))
    assert prices.cost(cache_write_tokens=1_000_000, cache_write_1h_tokens=400_000) == \
        Decimal("4.65")  # 0.6 M at 3.75 + 0.4 M at 6
    unsplit = ModelPrices(cache_write=Decimal("3.75"))
    assert unsplit.cost(cache_write_tokens=1_000_000, cache_write_1h_tokens=400_000) == \
        Decimal("3.75")

"""google-genai (Google's own SDK) through the Gemini native routes over real HTTP, on both
backends: to a Gemini account the request goes as sent and the answer (or each chunk) comes
back as sent, on chat-fast's books (usage once, in its buckets, thinking billed as output),
the key comes from x-goog-api-key, ?key= or a bearer token, and every refusal is Google's
error shape, which the SDK raises as its typed errors."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from google import genai
from google.genai import errors, types

from app.providers.estimate import tokens
from scripts.stub_upstream import SIGNATURE, reply_tokens
from tests.api.chat_support import add_account, set_quota
from tests.integration.native_support import (
    ACCOUNT_KEY,
    ANSWER,
    CLAUDE,
    GEMINI,
    GEMINI_UPSTREAM,
    serve,
)

HI = [{"role": "user", "parts": [{"text": "say something"}]}]
# What Gemini CLI sends, in short: every member must reach the account as it is.
CLI_BODY = {
    "contents": [{"role": "user", "parts": [{"text": "read the notes"}]},
                 {"role": "model", "parts": [{"text": "Which notes?"}]},
                 {"role": "user", "parts": [{"text": "the project ones"}]}],
    "systemInstruction": {"role": "user", "parts": [{"text": "You are an interactive CLI."}]},
    "tools": [{"functionDeclarations": [{"name": "read_file", "description": "Read a file",
                                         "parameters": {"type": "OBJECT", "properties": {
                                             "path": {"type": "STRING"}}}}]}],
    "generationConfig": {"temperature": 0, "topP": 1, "maxOutputTokens": 64,
                         "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 256}},
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    "labels": {"team": "cli"},
}
THINKING = "The user wants the notes read"


@pytest.fixture
def gateway(app, stub_upstream):
    yield from serve(app, stub_upstream)


def sdk(gateway, key: dict | None = None, *, prefix: str = "", version: str = "v1beta",
        api_key: str | None = None) -> genai.Client:
    return genai.Client(api_key=api_key or (key or gateway.key)["apiKey"],
                        http_options=types.HttpOptions(base_url=gateway.url + prefix,
                                                       api_version=version, timeout=30_000))


def post(gateway, path: str, body: dict, *, headers: dict | None = None,
         params: dict | None = None) -> httpx.Response:
    return httpx.post(gateway.url + path, json=body, headers=headers, params=params,
                      timeout=30)


def generate(gateway, model: str = GEMINI, stream: bool = False) -> str:
    call = "streamGenerateContent" if stream else "generateContent"
    return f"/v1beta/models/{model}:{call}"


def gemini_error(raised) -> dict:
    """The error object of a google-genai APIError (its `details` is the body)."""
    return raised.value.details["error"]


def test_a_gemini_cli_request_reaches_the_upstream_unchanged_and_its_answer_comes_back_whole(
        gateway):
    gateway.add_account("gemini")
    gateway.stub.set_behaviour(thinking=THINKING)
    response = post(gateway, generate(gateway), CLI_BODY, headers={
        "x-goog-api-key": gateway.key["apiKey"], "x-goog-api-client": "gl-node/22 gdcl/1.0",
        "user-agent": "GeminiCLI/0.9.0 (linux; x64)", "cookie": "session=secret"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["candidates"][0]["content"]["parts"] == [
        {"text": THINKING, "thought": True, "thoughtSignature": SIGNATURE}, {"text": ANSWER}]
    assert answer["modelVersion"] == GEMINI_UPSTREAM  # the upstream's answer, not rewritten
    (received,) = gateway.chats()
    assert received["path"] == f"/v1beta/models/{GEMINI_UPSTREAM}:generateContent"
    assert received["body"] == CLI_BODY
    headers = received["headers"]
    assert headers["x-goog-api-key"] == ACCOUNT_KEY["gemini"]
    assert headers["x-goog-api-client"] == "gl-node/22 gdcl/1.0"
    assert headers["user-agent"].startswith("GeminiCLI/0.9.0")
    assert "cookie" not in headers and "authorization" not in headers
    assert not any(gateway.key["apiKey"] in value for value in headers.values())


def test_generate_content_answers_the_sdk_and_is_billed_once(gateway):
    gateway.add_account("gemini")
    answer = sdk(gateway).models.generate_content(
        model=GEMINI, contents="say something",
        config=types.GenerateContentConfig(system_instruction="be brief",
                                           max_output_tokens=64))
    assert answer.text == ANSWER
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata.candidates_token_count == 12
    (received,) = gateway.chats()
    assert received["stream"] is False
    assert received["body"]["generationConfig"] == {"maxOutputTokens": 64}
    assert received["headers"]["user-agent"].startswith("google-genai-sdk/")
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (4, 12, False)


def test_a_streamed_answer_relays_every_chunk_and_is_billed_once(gateway):
    gateway.add_account("gemini")
    chunks = list(sdk(gateway).models.generate_content_stream(model=GEMINI,
                                                              contents="say something"))
    assert len(chunks) == 12  # one a token, as the account sent them
    assert "".join(chunk.text for chunk in chunks) == ANSWER
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert [chunk.candidates[0].finish_reason for chunk in chunks[:-1]] == [None] * 11
    (received,) = gateway.chats()
    assert received["path"] == f"/v1beta/models/{GEMINI_UPSTREAM}:streamGenerateContent?alt=sse"
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (2, 12, False)


@pytest.mark.parametrize("stream", [False, True])
def test_cached_and_thinking_tokens_are_recorded_once_in_their_buckets(gateway, stream):
    gateway.add_account("gemini")
    gateway.stub.set_behaviour(cacheReadTokens=300, thinking=THINKING)
    client = sdk(gateway)
    if stream:
        chunks = list(client.models.generate_content_stream(model=GEMINI, contents=HI))
        usage = chunks[-1].usage_metadata
    else:
        usage = client.models.generate_content(model=GEMINI, contents=HI).usage_metadata
    assert (usage.prompt_token_count, usage.cached_content_token_count) == (302, 300)
    assert usage.thoughts_token_count == 6
    (event,) = gateway.events()
    # promptTokenCount holds the cached part; thinking is billed as output.
    assert (event["input"], event["cache_read"], event["cache_write"]) == (2, 300, 0)
    assert (event["output"], event["estimated"]) == (12 + 6, False)
    # Gemini 2.5 Flash: input 0.30, output 2.50, cache read 0.075 (per million).
    expected = (2 * Decimal("0.30") + 18 * Decimal("2.50") + 300 * Decimal("0.075")) / 10**6
    assert event["cost"] == expected.quantize(Decimal("0.00000001"))


def test_the_last_chunk_arrives_only_once_its_usage_is_on_the_books(gateway):
    gateway.add_account("gemini")
    seen = []
    with httpx.stream("POST", gateway.url + generate(gateway, stream=True),
                      params={"alt": "sse"}, json={"contents": HI}, timeout=30,
                      headers={"x-goog-api-key": gateway.key["apiKey"]}) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            chunk = json.loads(line.removeprefix("data: "))
            seen.append(chunk)
            if chunk["candidates"][0].get("finishReason"):
                # No waiting: the record is stored (or queued for the drain) before this chunk.
                assert len(gateway.events()) == 1
    assert len(seen) == 12 and seen[-1]["usageMetadata"]["candidatesTokenCount"] == 12


@pytest.mark.parametrize("where", ["header", "query", "bearer"])
def test_the_key_is_read_from_x_goog_api_key_the_key_query_or_a_bearer_token(gateway, where):
    gateway.add_account("gemini")
    token = gateway.key["apiKey"]
    headers, params = {"header": ({"x-goog-api-key": token}, None),
                       "query": ({}, {"key": token}),
                       "bearer": ({"authorization": f"Bearer {token}"}, None)}[where]
    response = post(gateway, generate(gateway), {"contents": HI}, headers=headers,
                    params=params)
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == ANSWER
    (received,) = gateway.chats()
    assert received["headers"]["x-goog-api-key"] == ACCOUNT_KEY["gemini"]
    assert token not in received["path"]
    assert request_id_of(response) == gateway.event()["request_id"]


def request_id_of(response: httpx.Response) -> str:
    return response.headers["x-relaygate-request-id"]


@pytest.mark.parametrize("prefix, version", [("", "v1"), ("/gemini", "v1beta"),
                                             ("/gemini", "v1")])
def test_the_gemini_prefix_and_the_v1_version_answer_too(gateway, prefix, version):
    gateway.add_account("gemini")
    client = sdk(gateway, prefix=prefix, version=version)
    assert client.models.generate_content(model=GEMINI, contents="hi").text == ANSWER
    streamed = client.models.generate_content_stream(model=GEMINI, contents="hi")
    assert "".join(chunk.text for chunk in streamed) == ANSWER
    assert len(gateway.events()) == 2


@pytest.mark.parametrize("name", [GEMINI_UPSTREAM, f"models/{GEMINI_UPSTREAM}",
                                  f"models/{GEMINI}", "Gemini 2.5 Flash"])
def test_the_model_is_any_name_a_client_may_send(gateway, name):
    gateway.add_account("gemini")
    answer = sdk(gateway).models.generate_content(model=name, contents="hi")
    assert answer.text == ANSWER
    assert gateway.chats()[0]["model"] == GEMINI_UPSTREAM


def test_a_bad_key_is_unauthenticated_in_googles_shape(gateway):
    gateway.add_account("gemini")
    with pytest.raises(errors.ClientError) as raised:
        sdk(gateway, api_key="rg_not-a-key").models.generate_content(model=GEMINI,
                                                                     contents="hi")
    assert raised.value.code == 401 and raised.value.status == "UNAUTHENTICATED"
    error = gemini_error(raised)
    assert error["details"][0]["reason"] == "INVALID_API_KEY"
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    missing = post(gateway, generate(gateway), {"contents": HI})
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert gateway.chats() == []


@pytest.mark.parametrize("body, params, stream", [
    ({"contents": []}, None, False),
    ({"contents": "not a list"}, None, False),
    ({"generationConfig": {}}, None, False),
    ({"contents": HI}, {}, True),  # streamGenerateContent without alt=sse
])
def test_bad_input_is_invalid_argument_and_changes_nothing(gateway, body, params, stream):
    gateway.add_account("gemini")
    key = gateway.new_key(requestsPerMinute=1)
    response = post(gateway, generate(gateway, stream=stream), body, params=params,
                    headers={"x-goog-api-key": key["apiKey"]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert gateway.chats() == [] and gateway.events(key["id"]) == []
    # Nothing was counted against the key's one request a minute.
    assert sdk(gateway, key).models.generate_content(model=GEMINI, contents="hi").text == ANSWER


def test_a_body_that_is_not_json_is_invalid_argument(gateway):
    response = httpx.post(gateway.url + generate(gateway), content=b"{not json",
                          headers={"x-goog-api-key": gateway.key["apiKey"],
                                   "content-type": "application/json"}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_an_unknown_model_is_not_found(gateway):
    with pytest.raises(errors.ClientError) as raised:
        sdk(gateway).models.generate_content(model="gemini-nonexistent", contents="hi")
    assert raised.value.code == 404 and raised.value.status == "NOT_FOUND"
    assert gemini_error(raised)["details"][0]["reason"] == "MODEL_NOT_FOUND"


def test_a_key_without_gemini_permission_is_permission_denied(gateway):
    gateway.add_account("gemini")
    key = gateway.new_key(permissions="openai")
    with pytest.raises(errors.ClientError) as raised:
        sdk(gateway, key).models.generate_content(model=GEMINI, contents="hi")
    assert raised.value.code == 403 and raised.value.status == "PERMISSION_DENIED"
    assert gemini_error(raised)["details"][0]["reason"] == "PROVIDER_NOT_ALLOWED"
    assert gateway.chats() == []


def test_a_key_past_its_requests_per_minute_is_resource_exhausted(gateway):
    gateway.add_account("gemini")
    key = gateway.new_key(requestsPerMinute=1)
    sdk(gateway, key).models.generate_content(model=GEMINI, contents="hi")
    response = post(gateway, generate(gateway), {"contents": HI},
                    headers={"x-goog-api-key": key["apiKey"]})
    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert int(response.headers["retry-after"]) >= 1
    assert len(gateway.chats()) == 1


def test_an_exhausted_plan_quota_is_resource_exhausted_in_the_sdk(gateway):
    gateway.add_account("gemini")
    set_quota(gateway.client, gateway.admin, 1)
    client = sdk(gateway)
    client.models.generate_content(model=GEMINI, contents="hi")
    with pytest.raises(errors.ClientError) as raised:
        list(client.models.generate_content_stream(model=GEMINI, contents="hi"))
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
    assert len(gateway.chats()) == 1 and len(gateway.events()) == 1


def test_a_member_the_upstream_does_not_know_reaches_it_and_its_refusal_comes_back(gateway):
    gateway.add_account("gemini")
    response = post(gateway, generate(gateway), {"contents": HI, "futureOption": {"on": True}},
                    headers={"x-goog-api-key": gateway.key["apiKey"]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "futureOption" in error["message"]
    (received,) = gateway.chats()
    assert received["body"] == {"contents": HI, "futureOption": {"on": True}}
    assert gateway.events() == []


def test_an_upstream_refusal_comes_back_in_googles_shape(gateway):
    gateway.add_account("gemini")
    gateway.stub.set_behaviour(status=400, message="contents.parts must not be empty")
    with pytest.raises(errors.ClientError) as raised:
        sdk(gateway).models.generate_content(model=GEMINI, contents="hi")
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"
    assert "contents.parts must not be empty" in raised.value.message
    assert gateway.events() == []


def test_an_upstream_failure_mid_stream_ends_with_a_gemini_error_chunk(gateway):
    gateway.add_account("gemini")
    gateway.stub.set_behaviour(failAfterTokens=3, status=429, message="quota gone now")
    with httpx.stream("POST", gateway.url + generate(gateway, stream=True),
                      params={"alt": "sse"}, json={"contents": HI}, timeout=30,
                      headers={"x-goog-api-key": gateway.key["apiKey"]}) as response:
        data = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines()
                if line.startswith("data: ")]
    assert len(data) == 4
    error = data[-1]["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert "quota gone now" in error["message"]
    event = gateway.event()  # what was relayed is billed, estimated (no final count came)
    assert event["estimated"] and event["output"] == tokens(len("".join(reply_tokens(3))))


def test_a_member_a_claude_model_cannot_take_is_refused_by_name_changing_nothing(gateway):
    gateway.add_account("claude")
    key = gateway.new_key(requestsPerMinute=1)
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    with pytest.raises(errors.ClientError) as raised:
        sdk(gateway, key).models.generate_content(
            model=CLAUDE, contents="hi",
            config=types.GenerateContentConfig(safety_settings=safety))
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"
    assert gemini_error(raised)["details"][0]["reason"] == "UNTRANSLATABLE"
    assert "safetySettings" in raised.value.message
    assert gateway.chats() == [] and gateway.events(key["id"]) == []
    # The key's one request a minute is still there: a Claude model answers the Gemini client.
    answer = sdk(gateway, key).models.generate_content(model=CLAUDE, contents="hi")
    assert answer.text == ANSWER and gateway.chats()[0]["format"] == "anthropic"


def test_the_model_list_is_what_the_key_may_use_in_googles_shape(gateway):
    key = gateway.new_key(permissions="gemini")
    listed = list(sdk(gateway, key).models.list(config={"page_size": 2}))
    names = [model.name for model in listed]
    assert f"models/{GEMINI_UPSTREAM}" in names
    assert len(names) == len(set(names)) > 2  # every page, once
    assert all("claude" not in name and "gpt" not in name for name in names)
    flash = next(model for model in listed if model.name == f"models/{GEMINI_UPSTREAM}")
    assert flash.display_name == "Gemini 2.5 Flash"
    assert flash.supported_actions == ["generateContent", "streamGenerateContent"]
    refused = httpx.get(gateway.url + "/v1beta/models", params={"key": "rg_not-a-key"})
    assert refused.status_code == 401
    assert refused.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_turns_of_one_conversation_stay_on_one_gemini_account(gateway):
    for credential in ("acct-g1", "acct-g2", "acct-g3"):
        add_account(gateway.client, gateway.admin, gateway.stub, credential,
                    provider="gemini", baseUrl=gateway.stub.url)
    client = sdk(gateway)
    config = types.GenerateContentConfig(system_instruction="be brief")
    history: list = [types.Content(role="user", parts=[types.Part(text="first question")])]
    for turn in range(4):
        answer = client.models.generate_content(model=GEMINI, contents=history, config=config)
        history += [answer.candidates[0].content,
                    types.Content(role="user", parts=[types.Part(text=f"more {turn}")])]
    conversations = {entry["credential"] for entry in gateway.chats()}
    assert len(gateway.chats()) == 4 and len(conversations) == 1
    for n in range(6):  # other conversations spread over the equal accounts
        client.models.generate_content(model=GEMINI, contents=f"question {n}", config=config)
    assert len({entry["credential"] for entry in gateway.chats()}) == 3


def test_a_model_the_key_may_use_is_described_and_another_is_not_found(gateway):
    key = gateway.new_key(permissions="gemini")
    client = sdk(gateway, key)
    for name in (GEMINI_UPSTREAM, GEMINI):
        model = client.models.get(model=name)
        assert (model.name, model.display_name) == (f"models/{name}", "Gemini 2.5 Flash")
        assert "generateContent" in model.supported_actions
    for name in (CLAUDE, "gemini-nonexistent"):
        with pytest.raises(errors.ClientError) as raised:
            client.models.get(model=name)
        assert raised.value.code == 404 and raised.value.status == "NOT_FOUND"


@pytest.mark.parametrize("body", [{"contents": HI}, {"generateContentRequest": {
    "contents": HI, "systemInstruction": {"parts": [{"text": "be brief"}]}}}])
def test_count_tokens_answers_an_estimate_marked_as_one_and_bills_nothing(gateway, body):
    gateway.add_account("gemini")
    response = post(gateway, f"/v1beta/models/{GEMINI}:countTokens", body,
                    headers={"x-goog-api-key": gateway.key["apiKey"]})
    assert response.status_code == 200, response.text
    asked = body.get("generateContentRequest", body)
    chars = len("say something") + len("be brief" if "systemInstruction" in asked else "")
    assert response.json() == {"totalTokens": tokens(chars)}
    assert response.headers["x-relaygate-estimated"] == "true"
    assert gateway.chats() == [] and gateway.events() == []


def test_count_tokens_in_the_sdk_and_its_refusals_in_googles_shape(gateway):
    client = sdk(gateway)
    assert client.models.count_tokens(model=GEMINI, contents="say something").total_tokens == 4
    with pytest.raises(errors.ClientError) as raised:
        sdk(gateway, gateway.new_key(permissions="claude")).models.count_tokens(
            model=GEMINI, contents="hi")
    assert raised.value.code == 403 and raised.value.status == "PERMISSION_DENIED"
    empty = post(gateway, f"/v1beta/models/{GEMINI}:countTokens", {},
                 headers={"x-goog-api-key": gateway.key["apiKey"]})
    assert empty.status_code == 400 and "contents" in empty.json()["error"]["message"]


def test_a_translated_stream_that_fails_midway_ends_with_a_gemini_error_chunk(gateway):
    gateway.add_account("claude")
    gateway.stub.set_behaviour(failAfterTokens=3, status=529, message="overloaded now")
    with httpx.stream("POST", gateway.url + generate(gateway, CLAUDE, stream=True),
                      params={"alt": "sse"}, json={"contents": HI}, timeout=30,
                      headers={"x-goog-api-key": gateway.key["apiKey"]}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert not any(line.startswith("event:") for line in lines)  # Gemini names no events
    error = json.loads(lines[-1].removeprefix("data: "))["error"]
    assert (error["code"], error["status"]) == (503, "UNAVAILABLE")
    assert "overloaded now" in error["message"]
    assert gateway.event()["estimated"]

"""Any client to any provider, over real HTTP on both backends: the official `openai`,
`anthropic` and `google-genai` packages against Claude, OpenAI-compatible and Gemini stub
accounts, every client with every provider, streamed and not. Each answer reads whole in the
client's own SDK, its usage is recorded once in the right buckets (cache reads apart, nothing
counted twice) and shown to the client in its own convention, and a two-turn tool round trip
(the call, its result, the final answer) completes with the call's id linking the turns."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.integration.native_support import ANSWER, CLAUDE, GEMINI, GPT, serve

CLIENTS = ("openai", "anthropic", "gemini")
PROVIDERS = ("claude", "openai", "gemini")
MODELS = {"claude": CLAUDE, "openai": GPT, "gemini": GEMINI}
PROMPT = "say something"  # two words: two input tokens at the stub
CACHED = 300
RESULT = "found it"
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


@dataclass
class Reply:
    """What a client read: the text, the tool call (name, arguments, id) and the usage as
    its SDK shows it: (prompt as the client counts it, cached, output)."""

    text: str = ""
    call: tuple[str, dict, str] | None = None
    usage: tuple[int, int, int] | None = None
    turn: object = None  # the assistant turn to send back, in the client's own form


@pytest.fixture
def gateway(app, stub_upstream):
    yield from serve(app, stub_upstream)


# -- the three clients ----------------------------------------------------------------------

class OpenAIClient:
    """The openai SDK on /v1/chat/completions; its prompt count holds the cached tokens."""

    counts_cached_in_prompt = True

    def __init__(self, gateway):
        self.sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=gateway.key["apiKey"],
                                 max_retries=0, timeout=30)
        self.messages: list[dict] = [{"role": "user", "content": PROMPT}]

    def ask(self, model: str, stream: bool, tools: bool = False) -> Reply:
        extra = {"tools": [{"type": "function", "function": {
            "name": "lookup", "description": "Look a word up", "parameters": SCHEMA}}]} \
            if tools else {}
        if not stream:
            answer = self.sdk.chat.completions.create(model=model, messages=self.messages,
                                                      max_tokens=64, **extra)
            message = answer.choices[0].message
            reply = Reply(text=message.content or "", usage=_openai_usage(answer.usage))
            if message.tool_calls:
                (call,) = message.tool_calls
                reply.call = (call.function.name, json.loads(call.function.arguments), call.id)
            assert answer.choices[0].finish_reason == ("tool_calls" if reply.call else "stop")
            return reply
        reply, names, arguments, ids, finish = Reply(), [], [], [], []
        for chunk in self.sdk.chat.completions.create(
                model=model, messages=self.messages, max_tokens=64, stream=True,
                stream_options={"include_usage": True}, **extra):
            if chunk.usage:
                reply.usage = _openai_usage(chunk.usage)
            for choice in chunk.choices:
                reply.text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    names.append(call.function.name or "")
                    arguments.append(call.function.arguments or "")
                    ids.append(call.id or "")
                finish.append(choice.finish_reason)
        if names:
            reply.call = ("".join(names), json.loads("".join(arguments)), "".join(ids))
        assert [f for f in finish if f] == ["tool_calls" if reply.call else "stop"]
        return reply

    def answer_call(self, reply: Reply) -> None:
        name, arguments, call_id = reply.call
        self.messages += [
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": call_id, "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)}}]},
            {"role": "tool", "tool_call_id": call_id, "content": RESULT}]


def _openai_usage(usage) -> tuple[int, int, int]:
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
    return usage.prompt_tokens, cached, usage.completion_tokens


class AnthropicClient:
    """The anthropic SDK on /v1/messages; its input count leaves the cached tokens out."""

    counts_cached_in_prompt = False

    def __init__(self, gateway):
        self.sdk = anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key["apiKey"],
                                       max_retries=0, timeout=30)
        self.messages: list[dict] = [{"role": "user", "content": PROMPT}]

    def ask(self, model: str, stream: bool, tools: bool = False) -> Reply:
        extra = {"tools": [{"name": "lookup", "description": "Look a word up",
                            "input_schema": SCHEMA}]} if tools else {}
        ask = {"model": model, "max_tokens": 64, "messages": self.messages, **extra}
        if stream:
            with self.sdk.messages.stream(**ask) as events:
                message = events.get_final_message()
        else:
            message = self.sdk.messages.create(**ask)
        usage = message.usage
        reply = Reply(text="".join(b.text for b in message.content if b.type == "text"),
                      usage=(usage.input_tokens, usage.cache_read_input_tokens or 0,
                             usage.output_tokens),
                      turn=[block.model_dump(exclude_none=True) for block in message.content])
        calls = [block for block in message.content if block.type == "tool_use"]
        if calls:
            reply.call = (calls[0].name, calls[0].input, calls[0].id)
        assert message.stop_reason == ("tool_use" if calls else "end_turn")
        return reply

    def answer_call(self, reply: Reply) -> None:
        self.messages += [
            {"role": "assistant", "content": reply.turn},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": reply.call[2],
                                          "content": RESULT}]}]


class GeminiClient:
    """google-genai on /v1beta/models/...; its prompt count holds the cached tokens."""

    counts_cached_in_prompt = True

    def __init__(self, gateway):
        self.sdk = genai.Client(api_key=gateway.key["apiKey"], http_options=types.HttpOptions(
            base_url=gateway.url, timeout=30_000))
        self.contents: list = [types.Content(role="user", parts=[types.Part(text=PROMPT)])]

    def ask(self, model: str, stream: bool, tools: bool = False) -> Reply:
        config = types.GenerateContentConfig(max_output_tokens=64)
        if tools:
            config.tools = [types.Tool(function_declarations=[types.FunctionDeclaration(
                name="lookup", description="Look a word up", parameters=SCHEMA)])]
        if stream:
            chunks = list(self.sdk.models.generate_content_stream(
                model=model, contents=self.contents, config=config))
        else:
            chunks = [self.sdk.models.generate_content(model=model, contents=self.contents,
                                                       config=config)]
        parts = [part for chunk in chunks if chunk.candidates and chunk.candidates[0].content
                 for part in chunk.candidates[0].content.parts or []]
        usage = chunks[-1].usage_metadata
        reply = Reply(text="".join(part.text for part in parts
                                   if part.text and not part.thought),
                      usage=(usage.prompt_token_count, usage.cached_content_token_count or 0,
                             usage.candidates_token_count),
                      turn=types.Content(role="model", parts=parts))
        calls = [part.function_call for part in parts if part.function_call]
        if calls:
            reply.call = (calls[0].name, dict(calls[0].args), calls[0].id or "")
        assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
        return reply

    def answer_call(self, reply: Reply) -> None:
        response = types.Part.from_function_response(name=reply.call[0],
                                                     response={"result": RESULT})
        self.contents += [reply.turn, types.Content(role="user", parts=[response])]


DRIVERS = {"openai": OpenAIClient, "anthropic": AnthropicClient, "gemini": GeminiClient}
# The stub's tool call for each provider: Gemini's and Anthropic's arguments are {"q": reply};
# OpenAI's are made the same JSON.
TOOL_BEHAVIOUR = {"toolCall": "lookup", "jsonArguments": True, "textBeforeTool": True, "times": 1}


def answered_results(gateway, provider: str) -> tuple[str, str]:
    """In the second turn's upstream body, in the provider's own format: the id (or name) of
    the call the assistant made and the one the tool result answers."""
    body = gateway.chats()[-1]["body"]
    if provider == "claude":
        call = next(b for b in body["messages"][-2]["content"] if b["type"] == "tool_use")
        result = next(b for b in body["messages"][-1]["content"] if b["type"] == "tool_result")
        return call["id"], result["tool_use_id"]
    if provider == "openai":
        return body["messages"][-2]["tool_calls"][0]["id"], body["messages"][-1]["tool_call_id"]
    call = next(p for p in body["contents"][-2]["parts"] if "functionCall" in p)
    result = next(p for p in body["contents"][-1]["parts"] if "functionResponse" in p)
    return call["functionCall"]["name"], result["functionResponse"]["name"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_every_client_reads_every_providers_answer_billed_once_in_its_buckets(
        gateway, client, provider, stream):
    gateway.add_account(provider)
    gateway.stub.set_behaviour(cacheReadTokens=CACHED)
    driver = DRIVERS[client](gateway)
    reply = driver.ask(MODELS[provider], stream)
    assert reply.text == ANSWER and reply.call is None
    prompt = 2 + CACHED if driver.counts_cached_in_prompt else 2
    assert reply.usage == (prompt, CACHED, 12)
    (upstream,) = gateway.chats()
    assert upstream["format"] == {"claude": "anthropic"}.get(provider, provider)
    event = gateway.event()
    assert (event["input"], event["output"], event["cache_read"], event["cache_write"],
            event["estimated"]) == (2, 12, CACHED, 0, False)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("client", CLIENTS)
def test_a_two_turn_tool_round_trip_completes_for_every_client_and_provider(
        gateway, client, provider, stream):
    gateway.add_account(provider)
    gateway.stub.set_behaviour(**TOOL_BEHAVIOUR)
    driver = DRIVERS[client](gateway)
    called = driver.ask(MODELS[provider], stream, tools=True)
    assert called.call is not None, called
    name, arguments, _ = called.call
    assert (name, arguments) == ("lookup", {"q": ANSWER})
    driver.answer_call(called)
    final = driver.ask(MODELS[provider], stream, tools=True)
    assert final.text == ANSWER and final.call is None
    made, answered = answered_results(gateway, provider)
    assert made == answered and made  # the result answers the call it was given for
    assert len(gateway.chats()) == 2
    outputs = sorted(event["output"] for event in _both_events(gateway))
    assert outputs == [12, 12]


def _both_events(gateway) -> list[dict]:
    """The two turns' usage events, once each (waiting for the drain)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = gateway.events()
        if len(found) >= 2:
            break
        time.sleep(0.05)
    assert len(found) == 2 and len({event["request_id"] for event in found}) == 2
    return found

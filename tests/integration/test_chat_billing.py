"""What a chat is billed, over real HTTP on both backends and every chat route: the provider's
usage whatever the caller asks (usage reporting stays on, every choice counts), and an estimate
marked `estimated` when the provider reported none or a stream was cut before its final count."""

from __future__ import annotations

import json

import httpx
import pytest

from app import services_of
from app.providers.estimate import tokens
from scripts.stub_upstream import reply_tokens
from tests.api.chat_support import BODY, MODEL, add_account
from tests.support.apps import login_headers
from tests.support.http import ServerThread
from tests.support.servers import free_port
from tests.support.usage import stored_events, the_one_event

ROUTES = ["/api/ai/chat", "/api/ai/chat-optimized", "/api/ai/chat-fast", "/v1/chat/completions"]
CLAUDE = "claude/claude-haiku-4-5"
ANSWER = "".join(reply_tokens(12))  # the stub's default reply, one word a token
PROMPT_WORDS = 2  # "say something": the stub counts a token per word


class Gateway:
    """The app served on a loopback port, one key, and the stub upstream behind it."""

    def __init__(self, app, url: str, stub):
        self.app, self.url, self.stub = app, url, stub
        self.services = services_of(app)
        self.client, self.admin = app.test_client(), login_headers(app)
        self.key = self.client.post("/api/keys", json={"name": "billing"},
                                    headers=self.admin).json["data"]

    def add_account(self, provider: str = "openai") -> None:
        base = self.stub.url + ("/v1" if provider == "openai" else "")
        add_account(self.client, self.admin, self.stub, f"acct-{provider}", provider=provider,
                    baseUrl=base)

    def request(self, route: str, model: str, body: dict) -> tuple[str, dict]:
        if route.startswith("/v1/"):
            return f"{self.url}{route}", {**body, "model": model}
        return f"{self.url}{route}?model={model}", body

    def chat(self, route: str, model: str = MODEL, **body) -> httpx.Response:
        url, payload = self.request(route, model, {**BODY, **body})
        return httpx.post(url, json=payload, headers={"x-api-key": self.key["apiKey"]},
                          timeout=30)

    def events(self) -> list[dict]:
        """The key's stored usage events (after storing what chat-fast queued)."""
        return [{"input": e.input_tokens, "output": e.output_tokens,
                 "estimated": e.estimated, "source": e.source}
                for e in stored_events(self.services, self.key["id"])]

    def event(self, seconds: float = 10.0) -> dict:
        """The one usage event, waiting for it (a cut stream is settled after the client left)."""
        return the_one_event(self.events, seconds)


@pytest.fixture
def gateway(app, stub_upstream):
    with ServerThread(app, free_port()) as server:
        yield Gateway(app, server.url, stub_upstream)


@pytest.mark.parametrize("route", ROUTES)
def test_a_caller_turning_usage_reporting_off_is_still_billed_the_providers_usage(gateway,
                                                                                 route):
    gateway.add_account()
    response = gateway.chat(route, stream=True, stream_options={"include_usage": False})
    assert response.status_code == 200, response.text
    sent = gateway.stub.requests()[0]["body"]
    assert sent["stream_options"] == {"include_usage": True}
    assert gateway.event() == {"input": PROMPT_WORDS, "output": 12, "estimated": False,
                               "source": "relay"}


@pytest.mark.parametrize("route", ROUTES)
def test_a_stream_of_tool_calls_only_is_billed_the_providers_usage(gateway, route):
    gateway.add_account()
    gateway.stub.set_behaviour(toolCall="lookup")
    response = gateway.chat(route, stream=True, stream_options={"include_usage": False},
                            tools=[{"type": "function", "function": {"name": "lookup"}}])
    assert response.status_code == 200, response.text
    assert '"arguments"' in response.text or route.startswith("/v1/")
    assert gateway.stub.requests()[0]["body"]["stream_options"]["include_usage"] is True
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (PROMPT_WORDS, 12, False)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ROUTES)
def test_eight_choices_are_billed_from_the_providers_usage_of_all_of_them(gateway, route,
                                                                          stream):
    gateway.add_account()
    options = {"stream_options": {"include_usage": False}} if stream else {}
    response = gateway.chat(route, stream=stream, n=8, **options)
    assert response.status_code == 200, response.text
    assert gateway.stub.requests()[0]["body"]["n"] == 8
    event = gateway.event()
    assert (event["input"], event["output"], event["estimated"]) == (PROMPT_WORDS, 96, False)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ROUTES)
def test_eight_choices_without_reported_usage_are_estimated_over_all_of_them(gateway, route,
                                                                             stream):
    gateway.add_account()
    gateway.stub.set_behaviour(noUsage=True)
    response = gateway.chat(route, stream=stream, n=8)
    assert response.status_code == 200, response.text
    event = gateway.event()
    assert event["estimated"] is True
    assert event["output"] == tokens(8 * len(ANSWER))
    assert event["input"] == tokens(len("say something"))


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ROUTES)
def test_an_unreported_prompt_is_estimated_over_system_tools_and_every_message(gateway, route,
                                                                               stream):
    gateway.add_account()
    gateway.stub.set_behaviour(noUsage=True)
    tools = [{"type": "function", "function": {
        "name": "lookup", "description": "d" * 800,
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "t" * 1200}, image]},
        {"role": "assistant", "content": "a" * 200},
        {"role": "user", "content": "u" * 400},
    ]
    response = gateway.chat(route, stream=stream, system="s" * 400, tools=tools,
                            messages=messages)
    assert response.status_code == 200, response.text
    event = gateway.event()
    assert event["estimated"] is True
    text = tokens(400 + 800 + 1200 + 200 + 400)  # system, tool description, the messages' text
    tool_json = tokens(len(json.dumps(tools)) - 800)
    assert text <= event["input"] <= text + tool_json  # the image's base64 is not text
    assert event["output"] == tokens(len(ANSWER))


def received_text(route: str, line: str) -> str:
    """The answer text one SSE line brought to the client, in the route's wire format."""
    if not line.startswith("data: {"):
        return ""
    body = json.loads(line.removeprefix("data: "))
    if route.startswith("/v1/"):
        return "".join((c.get("delta") or {}).get("content") or ""
                       for c in body.get("choices") or [])
    return (body.get("delta") or {}).get("text") or ""


@pytest.mark.parametrize("route", ROUTES)
def test_an_anthropic_stream_cut_before_its_final_count_is_billed_what_was_relayed(gateway,
                                                                                  route):
    gateway.add_account("claude")
    gateway.stub.set_behaviour(tokens=40, tokenDelay=0.05)
    url, payload = gateway.request(route, CLAUDE, {**BODY, "stream": True})
    seen = []
    with httpx.stream("POST", url, json=payload, headers={"x-api-key": gateway.key["apiKey"]},
                      timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            seen.append(received_text(route, line))
            if sum(1 for text in seen if text) == 6:
                break  # the client leaves mid-answer, long before message_delta
    event = gateway.event()
    log = gateway.stub.requests()[0]
    assert log["completed"] is False and log["tokensSent"] < 40
    assert event["estimated"] is True
    assert event["input"] == PROMPT_WORDS  # message_start's input count is kept
    assert event["output"] >= tokens(len("".join(seen))) > 1
    assert event["output"] <= tokens(len("".join(reply_tokens(40))))

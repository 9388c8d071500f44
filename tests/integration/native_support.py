"""Shared set-up of the client-protocol tests: the app over real HTTP, a key, stub accounts."""

from __future__ import annotations

from collections.abc import Iterator

import openai

from app import services_of
from scripts.stub_upstream import reply_tokens
from tests.api.chat_support import add_account
from tests.support.apps import login_headers
from tests.support.http import ServerThread
from tests.support.servers import free_port
from tests.support.usage import stored_events, the_one_event

CLAUDE = "claude/claude-sonnet-4-5"
CLAUDE_UPSTREAM = "claude-sonnet-4-5-20250929"
GPT = "openai/gpt-4o-mini"
GPT_UPSTREAM = "gpt-4o-mini"
GEMINI = "gemini/gemini-2.5-flash"
GEMINI_UPSTREAM = "gemini-2.5-flash"
ANSWER = "".join(reply_tokens(12))  # the stub's default reply, one word a token
ACCOUNT_KEY = {"claude": "acct-claude-secret", "openai": "acct-openai-secret",
               "gemini": "acct-gemini-secret"}


class Gateway:
    """The app served on a loopback port, one API key, and the stub upstream behind it."""

    def __init__(self, app, url: str, stub):
        self.app, self.url, self.stub = app, url, stub
        self.services = services_of(app)
        self.client, self.admin = app.test_client(), login_headers(app)
        self.key = self.new_key()

    def new_key(self, **fields) -> dict:
        response = self.client.post("/api/keys", json={"name": "native", **fields},
                                    headers=self.admin)
        assert response.status_code == 201, response.json
        return response.json["data"]

    def add_account(self, provider: str) -> None:
        base = self.stub.url + ("/v1" if provider == "openai" else "")
        add_account(self.client, self.admin, self.stub, ACCOUNT_KEY[provider],
                    provider=provider, baseUrl=base)

    def chats(self) -> list[dict]:
        """What reached the stub's chat endpoints, oldest first."""
        return [entry for entry in self.stub.requests() if "body" in entry]

    def events(self, key_id: str | None = None) -> list[dict]:
        """The key's stored usage events (after storing what chat-fast queued)."""
        return [{"input": e.input_tokens, "output": e.output_tokens,
                 "cache_write": e.cache_write_tokens, "cache_read": e.cache_read_tokens,
                 "cost": e.cost, "estimated": e.estimated, "request_id": e.request_id}
                for e in stored_events(self.services, key_id or self.key["id"])]

    def event(self, seconds: float = 10.0) -> dict:
        """The one usage event, waiting for it (a cut stream is settled after the client left)."""
        return the_one_event(self.events, seconds)


def serve(app, stub) -> Iterator[Gateway]:
    """The body of a test module's `gateway` fixture."""
    with ServerThread(app, free_port()) as server:
        yield Gateway(app, server.url, stub)


def openai_ask(gateway, model: str, stream: bool, ask: list, **options):
    """(text, tool calls, finish reason, usage, raw response) from the openai SDK's chat
    completions, asking `ask` unless `messages` is among the options; an answer has exactly one
    choice unless `n` asks for more (the first is read)."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", max_retries=0, timeout=30,
                           api_key=gateway.key["apiKey"])
    raw = client.chat.completions.with_raw_response.create(
        model=model, stream=stream, **{"messages": ask, **options})
    if not stream:
        answer = raw.parse()
        if options.get("n"):
            choice = answer.choices[0]
        else:
            (choice,) = answer.choices
        calls = [(c.id, c.function.name, c.function.arguments)
                 for c in choice.message.tool_calls or []]
        return choice.message.content, calls, choice.finish_reason, answer.usage, raw
    text, streamed, finish, usage = "", {}, None, []
    for chunk in raw.parse():
        if chunk.usage:
            usage.append(chunk.usage)
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                was = streamed.setdefault(call.index, ["", "", ""])
                was[0] += call.id or ""
                was[1] += call.function.name or ""
                was[2] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert len(usage) <= 1
    return text, [tuple(call) for call in streamed.values()], finish, \
        (usage[0] if usage else None), raw

"""Running a golden fixture: a client's request to the provider's, or the provider's answer or
stream to the client's, through the neutral form and nothing else of Relaygate's."""

from __future__ import annotations

import json
from pathlib import Path

from app.protocols import anthropic_messages, gemini_generate, openai_chat, openai_responses
from app.protocols.names import ToolNames

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = {"openai": openai_chat, "anthropic": anthropic_messages, "gemini": gemini_generate,
           "responses": openai_responses}
CREATED = 1700000000  # the `created` of every OpenAI answer the fixtures expect


def translate(fixture: dict, *, parsed: bool = False):
    """The fixture's `in`, translated as its `kind` says (what its `out` must equal); `parsed`
    hands a stream's decoder each event's JSON object beside its text, as the relay does."""
    client, provider = FORMATS[fixture["client"]], FORMATS[fixture["provider"]]
    if fixture["kind"] == "request":
        request = client.request_to_neutral(fixture["in"])
        ToolNames().shorten_request(request)
        return provider.request_from_neutral(request)
    if fixture["kind"] == "answer":
        return client.answer_from_neutral(provider.answer_to_neutral(fixture["in"]),
                                          created=CREATED)
    decoder = provider.StreamDecoder()
    encoder = client.StreamEncoder(created=CREATED,
                                   include_usage=fixture.get("include_usage", False))
    frames = []
    for name, data in fixture["in"]:
        text = data if isinstance(data, str) else json.dumps(data)
        body = data if parsed and isinstance(data, dict) else None
        for event in decoder.feed(name, text, body):
            frames += [list(frame) for frame in encoder.encode(event)]
    return frames


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))

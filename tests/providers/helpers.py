"""Small builders shared by the provider tests."""

from __future__ import annotations

from typing import Any

from app.providers import ChatRequest
from scripts.stub_upstream import StubUpstream

PROVIDERS = ["openai", "claude", "gemini"]
PROMPT_WORDS = 5


def base_url_for(provider: str, stub: StubUpstream) -> str:
    # The OpenAI convention puts the API version in the base URL; the others add it themselves.
    return f"{stub.url}/v1" if provider == "openai" else stub.url


def hello_request(**fields: Any) -> ChatRequest:
    """A PROMPT_WORDS-word prompt: the stub counts one input token per word."""
    return ChatRequest(
        model=fields.pop("model", "stub-model"),
        messages=[{"role": "user", "content": "hello there my good friend"}],
        **fields,
    )

"""HTTP clients for the upstream AI providers, one per wire format, behind one factory."""

from __future__ import annotations

from typing import Any

import httpx

from app.providers.anthropic import AnthropicClient
from app.providers.base import (
    ChatRequest,
    ChatResult,
    ProviderAccount,
    ProviderError,
    StreamEvent,
    Usage,
)
from app.providers.client import ProviderClient
from app.providers.gemini import GeminiClient
from app.providers.http_pool import close_shared_http_clients, shared_http_client
from app.providers.openai import OpenAIClient
from app.providers.streaming import ProviderStream

CLIENTS: dict[str, type[ProviderClient]] = {
    "openai": OpenAIClient,
    "claude": AnthropicClient,
    "gemini": GeminiClient,
}


def client_for(
    provider: str,
    account: ProviderAccount | None = None,
    *,
    http: httpx.Client | None = None,
    **account_fields: Any,
) -> ProviderClient:
    """A client for `provider`, given an account or the account's fields as keywords."""
    try:
        client_class = CLIENTS[provider]
    except KeyError:
        known = ", ".join(sorted(CLIENTS))
        raise ValueError(f"unknown provider {provider!r}; expected one of {known}") from None
    if account is None:
        account = ProviderAccount(**account_fields)
    elif account_fields:
        raise TypeError("pass either an account or its fields, not both")
    return client_class(account, http=http)


__all__ = [
    "AnthropicClient",
    "ChatRequest",
    "ChatResult",
    "GeminiClient",
    "OpenAIClient",
    "ProviderAccount",
    "ProviderClient",
    "ProviderError",
    "ProviderStream",
    "StreamEvent",
    "Usage",
    "client_for",
    "close_shared_http_clients",
    "shared_http_client",
]

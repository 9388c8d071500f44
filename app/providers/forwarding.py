"""Which of a client's own headers travel upstream when its protocol is the provider's.

An allow-list, so credentials (Authorization, x-api-key, api-key), cookies and hop-by-hop
headers never do: only the client's identity (User-Agent, Google's `x-goog-api-client`) and its
protocol options (`anthropic-*`, `x-stainless-*`, OpenAI's organisation and project headers).
"""

from __future__ import annotations

from collections.abc import Iterable

_EXACT = frozenset({"user-agent", "openai-organization", "openai-project", "openai-beta",
                    "x-goog-api-client"})
_PREFIXES = ("anthropic-", "x-stainless-")


def forwarded_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The forwardable headers of a client request, names lower-cased."""
    forwarded = {}
    for name, value in headers:
        name = name.lower()
        if name in _EXACT or name.startswith(_PREFIXES):
            forwarded[name] = value
    return forwarded


def merged_beta(client_value: str | None, required: str) -> str:
    """A comma list of beta flags holding the client's flags and `required`, once each."""
    flags = [flag.strip() for flag in (client_value or "").split(",") if flag.strip()]
    return ",".join(flags if required in flags else [*flags, required])

"""Which upstream providers an API key may use."""

from __future__ import annotations

PROVIDERS = ("claude", "gemini", "openai")


def canonical(permissions: str | list[str] | None) -> str:
    """'all', or a sorted comma list of providers: the stored form."""
    if permissions is None or permissions == "all":
        return "all"
    names = [permissions] if isinstance(permissions, str) else list(permissions)
    unknown = sorted(set(names) - set(PROVIDERS))
    if unknown or not names:
        raise ValueError(f"unknown provider(s): {', '.join(unknown) or '(empty list)'}")
    return ",".join(sorted(set(names)))


def public(stored: str) -> str | list[str]:
    """What clients see: 'all', one provider name, or a list of several."""
    if stored == "all" or "," not in stored:
        return stored
    return stored.split(",")


def allows(stored: str, provider: str) -> bool:
    return stored == "all" or provider in stored.split(",")

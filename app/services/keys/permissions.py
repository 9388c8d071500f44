"""Which upstream providers an API key may use."""

from __future__ import annotations

from app.vocabulary import PROVIDERS_SORTED


def canonical(permissions: str | list[str] | None) -> str:
    """'all', or a sorted comma list of providers: the stored form."""
    if permissions is None or permissions == "all":
        return "all"
    names = [permissions] if isinstance(permissions, str) else list(permissions)
    unknown = sorted(set(names) - set(PROVIDERS_SORTED))
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


def may_use_model(key: dict, model: dict) -> bool:
    """May the API key record `key` use the catalogue entry `model` (as ModelService answers it)?

    Today: its provider permissions. The per-key model list (CRS parity) is checked here too.
    """
    return allows(key["allowedProviders"], model["provider"])

"""Which upstream providers and models an API key may use.

Models are named by the key's `allowedModels` and `deniedModels`: catalogue ids, names or
glob patterns (`claude-opus-*`, `openai/*`; `*`, `?` and `[...]` as in shell globs, matched
case-insensitively) tried against every name of a catalogue entry: its id, name, upstream
model name and aliases. A non-empty allow list admits only what it matches; the deny list
refuses what it matches, whatever the allow list says.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from app.vocabulary import PROVIDERS_SORTED

PATTERN_LENGTH, MAX_PATTERNS = 200, 100
# Visible ASCII but for the characters no model name holds (spaces, quotes, commas...).
_PATTERN = re.compile(r"^[A-Za-z0-9._:/@+*?\[\]!-]+$")


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


def check_patterns(patterns: list[str]) -> list[str]:
    """The patterns as stored (deduplicated, in order); ValueError naming a bad one."""
    if len(patterns) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        if not 0 < len(pattern) <= PATTERN_LENGTH or not _PATTERN.match(pattern):
            raise ValueError(f"{pattern!r} is not a model name or glob pattern")
        if not _brackets_closed(pattern):
            raise ValueError(f"{pattern!r} has a '[' that no ']' closes")
    return list(dict.fromkeys(patterns))


def _brackets_closed(pattern: str) -> bool:
    inside = False
    for char in pattern:
        if inside:
            inside = char != "]"
        elif char == "[":
            inside = True
    return not inside


def model_names(model: dict) -> list[str]:
    """Every name a catalogue entry answers to."""
    names = [model.get("id"), model.get("name"), model.get("upstream_model"),
             *(model.get("aliases") or ())]
    return [name.lower() for name in names if name]


def matches(patterns: list[str], model: dict) -> bool:
    names = model_names(model)
    return any(fnmatchcase(name, pattern.lower()) for pattern in patterns for name in names)


def models_allow(allowed: list[str], denied: list[str], model: dict) -> bool:
    if denied and matches(denied, model):
        return False
    return not allowed or matches(allowed, model)


def may_use_model(key: dict, model: dict) -> bool:
    """May the API key record `key` use the catalogue entry `model` (as ModelService answers
    it): its provider permissions and its model lists."""
    return allows(key["allowed_providers"], model["provider"]) and models_allow(
        key.get("allowed_models") or [], key.get("denied_models") or [], model)

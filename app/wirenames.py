"""The one camelCase rule for JSON member names: `model_type` is written `modelType`."""

from __future__ import annotations


def camelcase(name: str) -> str:
    """`model_type` -> `modelType`; a name without underscores is returned as it is."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)

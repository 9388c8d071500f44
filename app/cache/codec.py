"""JSON encoding of cached values, keeping datetimes and decimals exact (never pickle)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal


def _default(value):
    if isinstance(value, datetime):
        return {"__dt__": value.isoformat()}
    if isinstance(value, Decimal):
        return {"__dec__": str(value)}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _hook(obj: dict):
    if len(obj) == 1:
        if "__dt__" in obj:
            return datetime.fromisoformat(obj["__dt__"])
        if "__dec__" in obj:
            return Decimal(obj["__dec__"])
    return obj


def dumps(value) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), sort_keys=True)


# One decoder for every call: json.loads(object_hook=...) would build a new one each time.
_DECODER = json.JSONDecoder(object_hook=_hook)
# A text naming no tagged value ("__dt__", "__dec__") needs no hook: decoded in C alone.
_PLAIN_DECODER = json.JSONDecoder()


def loads(text: str | bytes):
    text = as_text(text)
    return (_DECODER if '"__d' in text else _PLAIN_DECODER).decode(text)


def as_text(value: bytes | str) -> str:
    """A Redis reply as text (the clients answer bytes; a str passes through)."""
    return value.decode() if isinstance(value, bytes) else value

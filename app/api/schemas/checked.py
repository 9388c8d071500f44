"""Relay bodies checked by hand before marshmallow: a body the check proves valid is taken as is.

A chat body is checked on every relayed request, and marshmallow's nested schemas cost about
80 µs per message (a 50-message conversation: ~4 ms of CPU, more than the whole relay). The hand
check is a strict subset of the schema's rules: it accepts only a body every field of the
schema would accept unchanged (strings, ints, floats and bools of the exact JSON types, within
the same ranges), and gives what `load` would have given. Anything else, every bad body
included, goes through marshmallow as before, so every refusal keeps its message and shape.
The schemas themselves (and the OpenAPI document made from them) do not change.
"""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import INCLUDE, Schema


def text(value, longest: int) -> bool:
    return type(value) is str and 1 <= len(value) <= longest


def integer(value, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def number(value, low: float, high: float) -> bool:
    return type(value) in (int, float) and low <= value <= high  # NaN compares False


def optional(data: Mapping, name: str, check, *bounds) -> bool:
    return name not in data or check(data[name], *bounds)


class CheckedSchema(Schema):
    """A body schema whose `load` first asks `certain(data)`; a body it proves valid is
    answered by `loaded(data)`, which equals what marshmallow's load returns for it."""

    stream_default = False

    def certain(self, data: Mapping) -> bool:
        raise NotImplementedError

    def loaded(self, data: Mapping) -> dict:
        body = dict(data)
        body.setdefault("stream", self.stream_default)
        return body

    def load(self, data, *, many=None, partial=None, unknown=None):
        if (not many and not self.many and partial is None and unknown in (None, INCLUDE)
                and type(data) is dict and self.certain(data)):
            return self.loaded(data)
        return super().load(data, many=many, partial=partial, unknown=unknown)

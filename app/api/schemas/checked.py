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

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from marshmallow import INCLUDE, Schema, fields
from marshmallow.utils import missing


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


# What the answer schemas' fields dump a value of exactly this type to: the value itself (a
# Dict a shallow copy). None dumps to None in each of them.
_PLAIN = {fields.String: str, fields.Integer: int, fields.Decimal: Decimal, fields.Dict: dict}
Dumper = Callable[[Any], "dict | None"]


def plain_dumper(schema: Schema) -> Dumper:
    """`schema.dump` for a record (a dict, or an object read by attribute) that has every field
    and values of exactly the types the fields dump unchanged; None for any other record, which
    marshmallow dumps instead. Built from the schema's own fields, so a field added to it is
    dumped too; a field of any other kind is refused with a TypeError (tests build the dumper
    of every CheckedDumpSchema).
    """
    if any(schema._hooks.values()) or schema.only is not None or schema.exclude:
        raise TypeError(f"{type(schema).__name__}: hooks, only or exclude need marshmallow")
    members: list[tuple[str, str, type | None, Dumper | None]] = []
    for name, field in schema.dump_fields.items():
        if field.attribute is not None or field.dump_default is not missing or hasattr(dict, name):
            raise TypeError(f"{type(schema).__name__}.{name}: not a plain member")
        if type(field) is fields.Nested:
            nested = field.schema
            if field.many or field.only is not None or field.exclude:
                raise TypeError(f"{type(schema).__name__}.{name}: a plain Nested only")
            members.append((name, field.data_key or name, None, plain_dumper(nested)))
        elif type(field) in _PLAIN and not getattr(field, "as_string", False) \
                and getattr(field, "places", None) is None \
                and getattr(field, "key_field", None) is None \
                and getattr(field, "value_field", None) is None:
            members.append((name, field.data_key or name, _PLAIN[type(field)], None))
        else:
            raise TypeError(f"{type(schema).__name__}.{name}: {type(field).__name__} is not plain")

    def dump(record) -> dict | None:
        if type(record) is dict:
            read: Callable[[str, Any], Any] = record.get
        elif hasattr(type(record), "__getitem__"):
            return None  # marshmallow would try record[name] before the attribute
        else:
            read = functools.partial(getattr, record)
        dumped = {}
        for name, key, kind, nested in members:
            value: Any = read(name, missing)
            if value is missing:
                return None  # marshmallow's rules for an absent member (and wire-form names)
            if value is not None:
                if nested is not None:
                    value = nested(value)
                    if value is None:
                        return None
                elif type(value) is not kind:
                    return None
                elif type(value) is dict:
                    value = dict(value)
                elif type(value) is Decimal and not value.is_finite():
                    return None
            dumped[key] = value
        return dumped

    return dump


class CheckedDumpSchema(Schema):
    """A schema whose `dump` of a plain record (see `plain_dumper`) is made without
    marshmallow's per-field machinery; it equals what marshmallow's dump gives, and any other
    record is dumped by marshmallow."""

    _plain: Dumper | None = None

    def dump(self, obj, *, many=None):
        if not many and not self.many and self.only is None and not self.exclude:
            plain = type(self).__dict__.get("_plain")  # a subclass has its own fields
            if plain is None:
                plain = type(self)._plain = plain_dumper(type(self)())
            dumped = plain(obj)
            if dumped is not None:
                return dumped
        return super().dump(obj, many=many)

"""CamelSchema: fields are declared by their snake_case attribute, the wire name is derived.

marshmallow's documented `on_bind_field` recipe: a field without an explicit `data_key` is
loaded from and dumped to the camelCase of its name (`model_type` <-> `modelType`), so services
take and return snake_case records and only the schemas know the JSON names. A field whose wire
name is not the plain camelCase of its name (a header, a legacy name) keeps an explicit
`data_key`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields
from marshmallow.fields import Field

from app.wirenames import camelcase


class CamelSchema(Schema):
    """A schema whose wire names are the camelCase of its snake_case field names."""

    def on_bind_field(self, field_name: str, field_obj: Field) -> None:
        if field_obj.data_key is None:
            field_obj.data_key = camelcase(field_name)

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        # Services answer snake_case records; a dict built in wire form (camelCase) is a bug
        # that would otherwise dump as a silently missing member.
        if isinstance(obj, Mapping) and attr not in obj and camelcase(attr) in obj:
            raise TypeError(f"{type(self).__name__} was given {camelcase(attr)!r} in wire form; "
                            f"a service answers {attr!r} (snake_case)")
        return super().get_attribute(obj, attr, default)


class CamelDict(fields.Dict):
    """A free-form object (no schema of its own) whose member names a record gives in
    snake_case: they are written in camelCase, one level deep."""

    def _serialize(self, value, attr, obj, **kwargs):
        members = super()._serialize(value, attr, obj, **kwargs)
        if members is None:
            return None
        return {camelcase(name) if isinstance(name, str) else name: member
                for name, member in members.items()}

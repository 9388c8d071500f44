"""HTML forms read through the REST API's own schemas, so both check input the same way."""

from __future__ import annotations

from marshmallow import Schema, ValidationError

from app.errors import InvalidInput


def load(schema: Schema, form, *, ints=(), lists=(), clearable=(), skip=(),
         extra: dict | None = None) -> dict:
    """The form's filled-in fields, as the schema loads them (InvalidInput if it refuses).

    An empty field is left out, except a `clearable` one, which becomes None (no limit);
    `extra` members (already shaped, such as nested objects) are added as they are."""
    data: dict = {}
    for name, value in form.items():
        if name in skip or name == "csrf_token":
            continue
        value = value.strip()
        if value == "":
            if name in clearable:
                data[name] = None
            continue
        if name in lists:
            data[name] = [part.strip() for part in value.split(",") if part.strip()]
        elif name in ints:
            data[name] = int(value) if value.lstrip("-").isdigit() else value
        else:
            data[name] = value
    data.update(extra or {})
    try:
        return schema.load(data)
    except ValidationError as error:
        raise InvalidInput("Some fields are not valid.",
                           details=error.normalized_messages()) from error

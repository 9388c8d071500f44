"""Fields and bases shared by the schemas."""

from __future__ import annotations

from datetime import UTC

from marshmallow import EXCLUDE, RAISE, ValidationError, fields, validate

from app.api.schemas.base import CamelSchema
from app.vocabulary import PROVIDERS_SORTED

# Tokens of one usage record: far above any real request, and low enough that the running
# totals (BIGINT) it is added to cannot overflow (2**62 twice would).
RECORD_TOKENS = validate.Range(min=0, max=10**12)


class BodySchema(CamelSchema):
    """Request bodies: unknown members are an error, so typos do not pass silently."""

    class Meta:
        unknown = RAISE


class QuerySchema(CamelSchema):
    """Query strings: unrelated parameters are ignored."""

    class Meta:
        unknown = EXCLUDE


class UTCDateTime(fields.AwareDateTime):
    """ISO-8601; a value without an offset is taken as UTC."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)


class Money(fields.Decimal):
    """USD with 8 places; accepts numbers or numeric strings, never NaN or infinity."""

    def __init__(self, **kwargs):
        super().__init__(places=8, allow_nan=False, **kwargs)


class Permissions(fields.Field):
    """'all', one provider name, or a list of provider names."""

    def _deserialize(self, value, attr, data, **kwargs):
        allowed = ("all", *PROVIDERS_SORTED)
        if isinstance(value, str) and value in allowed:
            return value
        if (isinstance(value, list) and value
                and all(isinstance(v, str) and v in PROVIDERS_SORTED for v in value)):
            return value
        raise ValidationError(
            f"Must be 'all', one of {', '.join(PROVIDERS_SORTED)}, or a non-empty list of those."
        )

    def _serialize(self, value, attr, obj, **kwargs):
        return value

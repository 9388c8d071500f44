"""JSON output: money as numbers with their exact decimal digits, datetimes as ISO-8601."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    sort_keys = False

    @staticmethod
    def default(value):
        if isinstance(value, Decimal):
            # An 8-place amount below 10^7 USD survives the float's shortest repr exactly.
            return float(value)
        if isinstance(value, datetime):
            return value.isoformat()
        return DefaultJSONProvider.default(value)

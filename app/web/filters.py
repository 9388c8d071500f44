"""Jinja filters of the web pages: figures with their units, instants and buckets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask


def figure(value, unit: str) -> str:
    """A number as the page shows it: USD with up to 6 places, counts with separators."""
    if value is None:
        return "–"
    if unit == "USD":
        amount = Decimal(value)
        places = 2 if abs(amount) >= 100 else 4 if abs(amount) >= Decimal("0.01") else 6
        return f"{amount:,.{places}f}"
    return f"{int(value):,}"


def moment(value: datetime | None) -> str:
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def bucket(value: datetime, unit: str) -> str:
    return value.strftime("%m-%d %H:00" if unit == "hour" else "%Y-%m-%d")


def register(app: Flask) -> None:
    app.add_template_filter(figure)
    app.add_template_filter(moment)
    app.add_template_filter(bucket)

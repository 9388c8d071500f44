"""What a request cost, from the model catalogue's prices (USD per million tokens)."""

from __future__ import annotations

from decimal import Decimal

from app.providers.base import Usage

PER_MILLION = Decimal(1_000_000)
EIGHT_PLACES = Decimal("0.00000001")


def cost_of(prices: dict | None, usage: Usage) -> Decimal:
    if not prices:
        return Decimal(0)
    total = (usage.input_tokens * prices["input"] + usage.output_tokens * prices["output"]
             + usage.cache_write_tokens * prices["cacheWrite"]
             + usage.cache_read_tokens * prices["cacheRead"])
    return (Decimal(total) / PER_MILLION).quantize(EIGHT_PLACES)

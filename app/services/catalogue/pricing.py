"""Model prices, and the cost of usage computed from them when the caller gives none.

The catalogue of models is a collaborator of UsageService: any callable `pricing(model)` that
answers a ModelPrices (or None for a model it does not know) will do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from app.db.types import MONEY_PLACES

TOKENS_PER_PRICE = Decimal(1_000_000)
_CENT_FRACTION = Decimal(1).scaleb(-MONEY_PLACES)


@dataclass(frozen=True)
class ModelPrices:
    """USD per million tokens of each kind."""

    input: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    cache_write: Decimal = Decimal(0)
    cache_read: Decimal = Decimal(0)
    # A cache write kept for an hour (Anthropic's 1h TTL); None prices it as any cache write.
    cache_write_1h: Decimal | None = None

    def cost(self, *, input_tokens: int = 0, output_tokens: int = 0, cache_write_tokens: int = 0,
             cache_read_tokens: int = 0, cache_write_1h_tokens: int = 0) -> Decimal:
        """Exact to the product, then rounded half-up once to MONEY_PLACES.

        `cache_write_1h_tokens` is the part of `cache_write_tokens` written for an hour.
        """
        one_hour = min(cache_write_1h_tokens, cache_write_tokens)
        one_hour_price = self.cache_write if self.cache_write_1h is None else self.cache_write_1h
        amount = (Decimal(input_tokens) * self.input + Decimal(output_tokens) * self.output
                  + Decimal(cache_write_tokens - one_hour) * self.cache_write
                  + Decimal(one_hour) * one_hour_price
                  + Decimal(cache_read_tokens) * self.cache_read) / TOKENS_PER_PRICE
        return amount.quantize(_CENT_FRACTION, rounding=ROUND_HALF_UP)


Pricing = Callable[[str], "ModelPrices | None"]


def price_table(prices: Mapping[str, ModelPrices]) -> Pricing:
    """A Pricing from a fixed table (tests, and deployments without a catalogue)."""
    table = dict(prices)
    return table.get


def from_catalogue(record: dict) -> ModelPrices | None:
    """The prices of a model as ModelService.resolve answers it; None for an unknown model."""
    prices = record.get("prices")
    if record.get("id") is None or not prices:
        return None
    return ModelPrices(input=prices["input"], output=prices["output"],
                       cache_write=prices["cache_write"], cache_read=prices["cache_read"],
                       cache_write_1h=prices.get("cache_write_1h"))


def catalogue_pricing(models) -> Pricing:
    """A Pricing that reads the model catalogue (through its cache)."""
    return lambda model: from_catalogue(models.resolve(model))

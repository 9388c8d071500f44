"""Shaping report answers: shares that add up, prices that compute exactly."""

from decimal import Decimal

import pytest

from app.services.catalogue.pricing import ModelPrices, price_table
from app.services.usage.answers import percentages


@pytest.mark.parametrize("amounts", [
    ["1", "1", "1"], ["0.00000001", "0.00000001", "5"], ["10", "0", "0"],
    ["3.33333333", "3.33333333", "3.33333334"], ["1"] * 7,
])
def test_percentages_add_up_to_exactly_one_hundred(amounts):
    shares = percentages([Decimal(a) for a in amounts])
    assert sum(shares) == Decimal(100)
    assert all(share == share.quantize(Decimal("0.01")) for share in shares)


def test_percentages_of_nothing_are_all_zero():
    assert percentages([Decimal(0), Decimal(0)]) == [Decimal(0), Decimal(0)]


def test_the_larger_remainder_gets_the_spare_hundredth():
    assert percentages([Decimal(2), Decimal(1)]) == [Decimal("66.67"), Decimal("33.33")]


def test_cost_from_prices_is_exact_to_eight_places():
    prices = ModelPrices(input=Decimal("3"), output=Decimal("15"), cache_write=Decimal("3.75"),
                         cache_read=Decimal("0.3"))
    cost = prices.cost(input_tokens=1234, output_tokens=567, cache_write_tokens=89,
                       cache_read_tokens=10)
    # (1234*3 + 567*15 + 89*3.75 + 10*0.3) / 1e6 = 0.01254375
    assert cost == Decimal("0.01254375")
    assert cost.as_tuple().exponent == -8


def test_cost_rounds_half_up_once_at_the_eighth_place():
    assert ModelPrices(input=Decimal("0.005")).cost(input_tokens=1) == Decimal("1E-8")


def test_a_price_table_answers_none_for_an_unknown_model():
    table = price_table({"m": ModelPrices(input=Decimal(1))})
    assert table("m").input == Decimal(1)
    assert table("other") is None

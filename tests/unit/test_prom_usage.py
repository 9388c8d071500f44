"""The token and cost counters of accepted usage (app/metrics/prom.py): each (provider, model)
counts its own, however often it is seen."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from prometheus_client import REGISTRY

from app.metrics import prom


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_accepted_record_counts_its_tokens_and_cost_under_its_own_labels():
    model, other = "test/prom-usage-a", "test/prom-usage-b"
    before = {(kind, m): sample("relaygate_tokens_total", provider="openai", model=m, kind=kind)
              for kind in ("input", "output") for m in (model, other)}
    cost_before = sample("relaygate_cost_usd_total", provider="openai", model=model)
    records = [SimpleNamespace(account_type="openai", model=model, input_tokens=5,
                               output_tokens=7, cost=Decimal("0.25")),
               SimpleNamespace(account_type="openai", model=model, input_tokens=1,
                               output_tokens=2, cost=Decimal("0.5")),
               SimpleNamespace(account_type="openai", model=other, input_tokens=100,
                               output_tokens=0, cost=Decimal(0))]
    for record in records:
        prom.usage_accepted(record)

    def added(kind: str, m: str) -> float:
        now = sample("relaygate_tokens_total", provider="openai", model=m, kind=kind)
        return now - before[(kind, m)]

    assert (added("input", model), added("output", model)) == (6, 9)
    assert (added("input", other), added("output", other)) == (100, 0)
    assert sample("relaygate_cost_usd_total", provider="openai",
                  model=model) - cost_before == 0.75
    prom.usage_accepted(SimpleNamespace(account_type=None, model=model, input_tokens=3,
                                        output_tokens=0, cost=Decimal(0)))
    assert sample("relaygate_tokens_total", provider="unknown", model=model,
                  kind="input") >= 3

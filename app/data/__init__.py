"""Data files shipped with the app: the model catalogue that migration 0002 seeds."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

_FIELDS = {
    "id": "id", "name": "name", "provider": "provider", "modelType": "model_type",
    "upstreamModel": "upstream_model", "inputPrice": "input_price", "outputPrice": "output_price",
    "cacheWritePrice": "cache_write_price", "cacheReadPrice": "cache_read_price",
    "cacheWrite1hPrice": "cache_write_1h_price", "contextWindow": "context_window",
}
_PRICES = {"input_price", "output_price", "cache_write_price", "cache_read_price",
           "cache_write_1h_price"}


def model_catalogue() -> list[dict]:
    """The shipped catalogue as rows of the models table (snake_case, prices as Decimal)."""
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    rows = []
    for entry in json.loads(text)["models"]:
        row = {column: entry[name] for name, column in _FIELDS.items()}
        rows.append({k: Decimal(v) if k in _PRICES else v for k, v in row.items()})
    return rows


def catalogue_aliases() -> dict[str, list[str]]:
    """The shipped aliases (more names clients may send), by model id; migration 0017 seeds them."""
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    return {entry["id"]: entry.get("aliases", []) for entry in json.loads(text)["models"]}

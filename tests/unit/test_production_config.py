"""Production refuses to start without a strong master secret and a metrics token."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings

STRONG = "s" * 32


@pytest.fixture
def production(monkeypatch, tmp_path):
    monkeypatch.setenv("RELAYGATE_ENV", "production")
    for name in ("RELAYGATE_SECRET_KEY", "RELAYGATE_METRICS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return {"instance_dir": tmp_path}


def test_production_refuses_a_master_secret_under_32_bytes(production):
    with pytest.raises(ConfigError, match="RELAYGATE_SECRET_KEY is shorter than 32 bytes"):
        load_settings({**production, "secret_key": "s" * 31, "metrics_token": "t"})


def test_production_counts_the_secret_in_bytes_not_characters(production):
    eleven_characters = "é" * 11  # 22 bytes
    with pytest.raises(ConfigError, match="32 bytes"):
        load_settings({**production, "secret_key": eleven_characters, "metrics_token": "t"})
    assert load_settings({**production, "secret_key": "é" * 16, "metrics_token": "t"})


def test_production_refuses_to_start_without_a_metrics_token(production):
    with pytest.raises(ConfigError, match="RELAYGATE_METRICS_TOKEN"):
        load_settings({**production, "secret_key": STRONG})


def test_production_starts_with_a_strong_secret_and_a_metrics_token(production):
    settings = load_settings({**production, "secret_key": STRONG, "metrics_token": "scrape"})
    assert settings.is_production and settings.metrics_token == "scrape"


def test_development_keeps_accepting_a_short_secret_and_no_metrics_token(monkeypatch, tmp_path):
    monkeypatch.delenv("RELAYGATE_ENV", raising=False)
    monkeypatch.delenv("RELAYGATE_METRICS_TOKEN", raising=False)
    settings = load_settings({"instance_dir": tmp_path, "secret_key": "short"})
    assert not settings.is_production and settings.metrics_token is None

"""RELAYGATE_CHAT_OPTIMIZED_USAGE: where chat-optimized keeps its usage
(app/services/chat/modes.py). The routes' books under each value are tested over HTTP in
tests/integration/test_chat_optimized_store.py."""

from __future__ import annotations

import pytest

from app.config import ConfigError
from app.services.chat.modes import CHAT, FAST, MODES, modes
from tests.support.apps import settings_read


@pytest.mark.parametrize(("given", "read"), [
    (None, "queued"), ("", "queued"), ("queued", "queued"), ("stored", "stored"),
    (" Stored ", "stored"),
])
def test_the_setting_reads_queued_or_stored(monkeypatch, tmp_path, given, read):
    settings = settings_read(monkeypatch, tmp_path, "RELAYGATE_CHAT_OPTIMIZED_USAGE", given)
    assert settings.chat_optimized_usage == read


@pytest.mark.parametrize("given", ["sync", "write_behind", "queued,stored"])
def test_any_other_value_is_refused_by_name(monkeypatch, tmp_path, given):
    with pytest.raises(ConfigError, match="RELAYGATE_CHAT_OPTIMIZED_USAGE"):
        settings_read(monkeypatch, tmp_path, "RELAYGATE_CHAT_OPTIMIZED_USAGE", given)


def test_queued_chat_optimized_keeps_chat_fasts_books_and_resolves_in_parallel():
    optimized = modes()["optimized"]
    assert optimized.write_behind and optimized.holds_in_redis and optimized.cached_pool
    assert optimized.parallel and not FAST.parallel
    assert not optimized.fresh


def test_stored_changes_chat_optimized_alone():
    stored = modes(optimized_stores=True)
    assert not stored["optimized"].write_behind
    assert stored["optimized"].holds_in_redis and stored["optimized"].parallel
    assert stored["chat"] is CHAT and stored["fast"] is FAST
    assert MODES["optimized"].write_behind  # the defaults are left as they were

"""Mapping CRS keys and accounts: the decisions at the edges of what carries over."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.crs_import.account_mapping import map_account
from app.crs_import.crs_source import CrsSource
from app.crs_import.key_mapping import map_key

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
_READER = CrsSource(None, "unused-key")


def _key(**raw):
    return _READER._api_key("k1", {"apiKey": "a" * 64, "name": "k", **raw})


def _account(kind="claude_console", **raw):
    return _READER._account(kind, "a1", {"apiKey": "sk-plain", "name": "acc", **raw})


def test_a_one_minute_window_is_a_requests_per_minute_limit():
    mapped = map_key(_key(rateLimitWindow="1", rateLimitRequests="30"), NOW)

    assert mapped.columns["requests_per_minute"] == 30 and mapped.notes == []


def test_a_key_allowed_only_a_provider_we_do_not_relay_arrives_inactive():
    mapped = map_key(_key(permissions='["droid"]', isActive="true"), NOW)

    assert mapped.columns["is_active"] is False
    assert any("droid" in note for note in mapped.notes)


def test_an_unknown_provider_beside_a_known_one_narrows_the_key():
    mapped = map_key(_key(permissions="claude,droid", isActive="true"), NOW)

    assert (mapped.columns["permissions"], mapped.columns["is_active"]) == ("claude", True)


def test_an_activation_key_never_used_starts_its_period_at_the_import():
    mapped = map_key(_key(expirationMode="activation", isActivated="false",
                          activationDays="3", activationUnit="hours", expiresAt=""), NOW)

    assert mapped.columns["expires_at"] == NOW + timedelta(hours=3)


def test_a_key_without_a_hash_is_not_imported():
    assert map_key(_key(apiKey=""), NOW) == "the key has no SHA-256 hash (apiKey field)"


def test_priority_turns_around_and_the_console_url_loses_its_endpoint():
    mapped = map_account(_account(priority="1", apiUrl="https://relay.example/v1/messages/"),
                         NOW)

    assert mapped.columns["priority"] == 100
    assert mapped.columns["base_url"] == "https://relay.example"
    assert mapped.secrets["api_key_sealed"] == "sk-plain"


def test_an_https_proxy_is_kept_as_http_and_the_account_waits_inactive():
    proxy = json.dumps({"type": "https", "host": "p.example", "port": 443})
    mapped = map_account(_account(proxy=proxy), NOW)

    assert (mapped.columns["proxy_type"], mapped.columns["status"]) == ("http", "inactive")


def test_an_error_state_stays_an_error_and_a_finished_rate_limit_is_lifted():
    broken = map_account(_account(status="unauthorized", errorMessage="401 from upstream"), NOW)
    lifted = map_account(_account(rateLimitStatus="limited",
                                  rateLimitEndAt="2026-11-22T11:00:00Z"), NOW)

    assert (broken.columns["status"], broken.columns["error_message"]) == (
        "error", "401 from upstream")
    assert lifted.columns["status"] == "active"


def test_an_account_without_a_credential_is_skipped():
    assert map_account(_account(apiKey=""), NOW) == "no API key"
    assert map_account(_account("openai", apiKey=""), NOW) == "no OAuth token"

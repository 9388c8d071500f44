"""Mapping CRS keys and accounts: the decisions at the edges of what carries over."""

from __future__ import annotations

import json
from datetime import UTC, datetime

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


def test_an_activation_key_never_used_starts_its_period_at_its_first_request_here():
    mapped = map_key(_key(expirationMode="activation", isActivated="false",
                          activationDays="3", activationUnit="hours", expiresAt=""), NOW)

    assert mapped.columns["expires_at"] is None
    assert (mapped.columns["activation_days"], mapped.columns["activation_unit"],
            mapped.columns["activated_at"]) == (3, "hours", None)


def test_an_activated_key_keeps_its_expiry_and_when_it_was_activated():
    mapped = map_key(_key(expirationMode="activation", isActivated="true",
                          activationDays="3", activationUnit="days",
                          activatedAt="2026-11-20T00:00:00.000Z",
                          expiresAt="2026-11-23T00:00:00.000Z"), NOW)

    assert mapped.columns["expires_at"] == datetime(2026, 11, 23, tzinfo=UTC)
    assert mapped.columns["activated_at"] == datetime(2026, 11, 20, tzinfo=UTC)
    assert mapped.columns["activation_days"] == 3


def test_model_and_client_restrictions_carry_over_only_when_enabled():
    on = map_key(_key(enableModelRestriction="true", restrictedModels='["claude-opus-4-1"]',
                      enableClientRestriction="true",
                      allowedClients='["claude_code", "droid_cli"]'), NOW)
    off = map_key(_key(enableModelRestriction="false", restrictedModels='["claude-opus-4-1"]',
                       enableClientRestriction="false", allowedClients='["claude_code"]'), NOW)

    assert on.columns["denied_models"] == ["claude-opus-4-1"]
    assert on.columns["allowed_clients"] == ["claude_code"]
    assert any("droid_cli" in note and "not recognised" in note for note in on.notes)
    assert (off.columns["denied_models"], off.columns["allowed_clients"]) == ([], [])


def test_a_key_allowed_only_clients_we_do_not_recognise_arrives_inactive():
    mapped = map_key(_key(isActive="true", enableClientRestriction="true",
                          allowedClients='["droid_cli"]'), NOW)

    assert mapped.columns["is_active"] is False


def test_a_dedicated_or_grouped_account_arrives_dedicated_and_in_rotation():
    kinds = {kind: map_account(_account(accountType=kind, schedulable="true"), NOW)
             for kind in ("shared", "dedicated", "group")}

    assert {kind: m.columns["dedicated"] for kind, m in kinds.items()} == {
        "shared": False, "dedicated": True, "group": True}
    assert {m.columns["status"] for m in kinds.values()} == {"active"}


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


def test_a_proxy_port_outside_the_tcp_range_leaves_the_account_inactive_without_a_proxy():
    for port in (0, 70000, "-1", "x", None):
        proxy = json.dumps({"type": "socks5", "host": "p.example", "port": port})
        mapped = map_account(_account(proxy=proxy), NOW)

        assert (mapped.columns["proxy_host"], mapped.columns["status"]) == (None, "inactive")
        assert any("no valid port" in note for note in mapped.notes), port


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

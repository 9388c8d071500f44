"""Imported CRS accounts: secrets decrypted and sealed again, state kept, unsupported skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.crs_import.crs_source import CrsSource
from app.db.models import Account

from .crs_fixture import CLOSED_HOST, CLOSED_PORT, CONSOLE_GROUP, CONSOLE_URL
from .importing import importer, run_import

NOW = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)  # during the fixture's rate limit


@pytest.fixture
def imported(app, crs_redis, crs_store):
    report = importer(app, clock=lambda: NOW).run(
        CrsSource(crs_redis, crs_store.encryption_key), phases=("accounts",))
    assert report.ok, "\n".join(report.lines())
    return report


def _account(services, store, label) -> Account:
    with services.uow() as uow:
        return uow.accounts.get(store.account_ids[label])


def _open(services, sealed):
    return services.accounts.box.decrypt_optional(sealed)


def test_a_decrypted_oauth_token_equals_the_sources(services, crs_store, imported):
    oauth = _account(services, crs_store, "oauth")
    plain = crs_store.secrets["oauth"]

    assert _open(services, oauth.access_token_sealed) == plain["access_token"]
    assert _open(services, oauth.refresh_token_sealed) == plain["refresh_token"]
    assert (oauth.provider, oauth.credential_kind) == ("claude", "oauth")
    assert oauth.scopes == ["user:inference", "user:profile"]
    assert oauth.token_expires_at == datetime.fromtimestamp(1795000000, UTC)


def test_no_secret_is_stored_in_plaintext(services, crs_store, imported):
    with services.uow() as uow:
        rows = list(uow.accounts.page_after("", 100))
    sealed = [getattr(row, column) for row in rows
              for column in ("access_token_sealed", "refresh_token_sealed", "api_key_sealed",
                             "proxy_password_sealed")]

    assert all(value is None or value.startswith("rg1:") for value in sealed)
    assert sum(value is not None for value in sealed) >= 6


def test_status_priority_proxy_and_rate_limit_state_are_kept(services, crs_store, imported):
    oauth = _account(services, crs_store, "oauth")

    assert oauth.status == "rate_limited"
    assert oauth.rate_limit_reset_at == datetime(2026, 11, 23, 1, tzinfo=UTC)
    assert oauth.rate_limit_remaining == 0
    assert oauth.priority == 101 - 10
    assert (oauth.proxy_type, oauth.proxy_host, oauth.proxy_port) == (
        "socks5", CLOSED_HOST, CLOSED_PORT)
    assert oauth.proxy_username == "u" and _open(services, oauth.proxy_password_sealed) == "p"


def test_a_console_account_becomes_an_api_key_account_with_its_url(services, crs_store,
                                                                   imported):
    console = _account(services, crs_store, "console")

    assert (console.provider, console.credential_kind) == ("claude", "api_key")
    assert _open(services, console.api_key_sealed) == crs_store.secrets["console"]["api_key"]
    assert console.base_url == CONSOLE_URL
    assert console.max_concurrency == 4
    assert console.status == "inactive"  # not schedulable, and dedicated, in the source
    assert console.priority == 81


def test_an_account_with_only_a_refresh_token_is_refreshed_before_first_use(services,
                                                                            crs_store,
                                                                            imported):
    plain = _account(services, crs_store, "oauth_plain")

    assert plain.access_token_sealed is None
    assert _open(services, plain.refresh_token_sealed) == crs_store.secrets["oauth_plain"][
        "refresh_token"]
    assert plain.token_expires_at == NOW
    assert services.token_refresher.needs_refresh(plain)


def test_gemini_oauth_keeps_its_tokens(services, crs_store, imported):
    gemini = _account(services, crs_store, "gemini")

    assert (gemini.provider, gemini.credential_kind, gemini.status) == ("gemini", "oauth",
                                                                        "active")
    assert _open(services, gemini.access_token_sealed) == crs_store.secrets["gemini"][
        "access_token"]


def test_azure_and_bedrock_are_skipped_with_a_reason(services, crs_store, imported):
    accounts = next(phase for phase in imported.phases if phase.name == "accounts")

    assert _account(services, crs_store, "azure") is None
    assert _account(services, crs_store, "bedrock") is None
    assert accounts.counts == {"created": 4, "updated": 0, "unchanged": 0, "skipped": 2}
    assert any("azure_openai" in n and "unsupported type" in n for n in accounts.notes)
    assert any("bedrock" in n and "unsupported type" in n for n in accounts.notes)
    checks = {check.entity: check for check in imported.counts}
    assert (checks["accounts: azure_openai"].skipped, checks["accounts: claude_oauth"].imported) \
        == (1, 2)


def test_groups_and_a_keys_bindings_follow_the_accounts(app, services, crs_redis, crs_store):
    report = run_import(app, crs_redis, crs_store.encryption_key,
                        phases=("keys", "accounts", "groups"))
    team_id = crs_store.key_ids["team"]

    assert report.ok, "\n".join(report.lines())
    group = services.account_groups.get(CONSOLE_GROUP)
    assert (group["name"], group["provider"]) == ("Console pool", "claude")
    assert group["account_ids"] == [crs_store.account_ids["console"]]
    with services.uow() as uow:
        team = uow.api_keys.get(team_id)
        plain = uow.accounts.get(crs_store.account_ids["oauth_plain"])
    assert sorted(map(str, team.account_bindings)) == sorted(map(str, [
        {"accountId": crs_store.account_ids["oauth"]}, {"groupId": CONSOLE_GROUP}]))
    # Its OpenAI binding names a Responses account the source does not have: the key keeps
    # Claude only, rather than reach the shared OpenAI pool.
    assert team.permissions == "claude"
    assert plain.dedicated is True and plain.status == "active"
    controls = {check.key_id: check for check in report.controls}
    assert controls[team_id].source["boundProviders"] == ["claude", "openai"]
    assert controls[team_id].ok

"""The CRS reader against a real Redis holding a keyspace written the way CRS writes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis

from app.crs_import.crs_crypto import SALTS, CrsCipher, DecryptionFailed, WrongEncryptionKey
from app.crs_import.crs_source import (
    CrsSource,
    bucket_start_utc,
    check_encryption_key,
    load_init_json,
    normalise_permissions,
)

from .crs_fixture import (
    CLOSED_PORT,
    CONSOLE_URL,
    CRS_LIMITED_KEYS,
    CrsFixture,
    key_hash,
    node_encrypt,
)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _keys_by_label(source: CrsSource, store: CrsFixture) -> dict:
    by_id = {key.id: key for key in source.api_keys()}
    return {label: by_id[key_id] for label, key_id in store.key_ids.items()}


def _accounts_by_label(source: CrsSource, store: CrsFixture) -> dict:
    by_id = {account.id: account for account in source.accounts()}
    return {label: by_id[account_id] for label, account_id in store.account_ids.items()}


def test_every_api_key_is_read_once_including_the_deleted_one(crs_source, crs_store):
    ids = [key.id for key in crs_source.api_keys()]

    assert sorted(ids) == sorted(crs_store.key_ids.values())


def test_an_api_key_maps_every_field_of_its_hash(crs_source, crs_store):
    team = _keys_by_label(crs_source, crs_store)["team"]

    assert team.name == "team key"
    assert team.key_hash == key_hash(crs_store.plaintext_keys["team"], crs_store.encryption_key)
    assert team.permissions == ["claude", "openai"]
    assert team.tags == ["team-a", "prod"]
    assert (team.token_limit, team.concurrency_limit) == (1_000_000, 5)
    assert (team.rate_limit_window_minutes, team.rate_limit_requests) == (60, 100)
    assert team.rate_limit_cost == Decimal("2.5")
    assert team.daily_cost_limit == Decimal(10)
    assert team.weekly_opus_cost_limit == Decimal("25.5")
    assert team.total_cost_limit is None
    assert team.is_active and not team.is_deleted
    assert team.created_at == _utc(2026, 10, 1, 8)
    assert team.last_used_at == _utc(2026, 11, 22, 21, 40)
    assert team.account_bindings == {
        "claude": crs_store.account_ids["oauth"],
        "claude_console": "group:7d0f6b2e-console-group",
        "openai": "responses:resp-1",
    }
    assert team.enable_model_restriction and team.restricted_models == ["claude-opus-4-1"]
    assert team.enable_client_restriction and team.allowed_clients == ["claude_code"]
    assert team.service_rates == {"claude": 2}
    assert (team.user_id, team.user_username, team.created_by) == ("user-1", "alice", "admin")
    assert team.raw["weeklyResetDay"] == "1"


def test_zero_and_empty_limits_mean_no_limit(crs_source, crs_store):
    legacy = _keys_by_label(crs_source, crs_store)["legacy_all"]

    assert legacy.token_limit is None
    assert legacy.rate_limit_cost is None
    assert legacy.concurrency_limit is None
    assert legacy.daily_cost_limit is None


def test_legacy_permissions_in_the_store_are_normalised(crs_source, crs_store):
    keys = _keys_by_label(crs_source, crs_store)

    assert keys["legacy_all"].permissions == []
    assert keys["legacy_comma"].permissions == ["claude", "gemini"]
    assert keys["legacy_single"].permissions == ["gemini"]
    assert keys["deleted"].permissions == []


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ('["gemini","claude"]', ["claude", "gemini"]),
        ("[]", []),
        ('["all"]', []),
        ("all", []),
        ("", []),
        (None, []),
        ("openai", ["openai"]),
        ('"droid"', ["droid"]),
        ("claude, gemini ,openai", ["claude", "gemini", "openai"]),
        ('["bedrock"]', ["bedrock"]),
    ],
)
def test_every_permission_form_normalises_to_sorted_providers(stored, expected):
    assert normalise_permissions(stored) == expected


def test_a_soft_deleted_key_is_read_and_flagged(crs_source, crs_store, crs_redis):
    deleted = _keys_by_label(crs_source, crs_store)["deleted"]

    assert deleted.is_deleted and not deleted.is_active
    assert deleted.deleted_at == _utc(2026, 11, 21)
    assert deleted.deleted_by == "admin"
    assert crs_redis.hget("apikey:hash_map", deleted.key_hash) is None


def test_an_activation_key_keeps_its_expiry_and_activation(crs_source, crs_store):
    expiring = _keys_by_label(crs_source, crs_store)["expiring"]

    assert expiring.expiration_mode == "activation"
    assert (expiring.activation_days, expiring.activation_unit) == (30, "days")
    assert expiring.is_activated
    assert expiring.activated_at == _utc(2026, 11, 10)
    assert expiring.expires_at == _utc(2026, 12, 10)


def test_oauth_secrets_decrypt_to_the_plaintext_and_the_refreshed_token_wins(crs_source, crs_store):
    oauth = _accounts_by_label(crs_source, crs_store)["oauth"]
    plain = crs_store.secrets["oauth"]

    assert (oauth.type, oauth.provider) == ("claude_oauth", "claude")
    assert oauth.access_token == plain["access_token"]
    assert oauth.refresh_token == plain["refresh_token"]
    assert oauth.email == plain["email"]
    assert oauth.password is None
    assert oauth.scopes == ["user:inference", "user:profile"]
    assert oauth.token_expires_at == datetime.fromtimestamp(1795000000, UTC)
    assert json.loads(oauth.raw["proxy"]) == oauth.proxy
    assert oauth.proxy["type"] == "socks5" and oauth.proxy["port"] == CLOSED_PORT
    assert oauth.undecryptable == []


def test_an_oauth_account_keeps_its_status_priority_and_rate_limit_state(crs_source, crs_store):
    oauth = _accounts_by_label(crs_source, crs_store)["oauth"]

    assert (oauth.status, oauth.schedulable, oauth.priority) == ("active", True, 10)
    assert oauth.account_type == "shared"
    assert oauth.rate_limit_status == "limited"
    assert oauth.rate_limited_at == _utc(2026, 11, 22, 20)
    assert oauth.rate_limit_end_at == _utc(2026, 11, 23, 1)
    assert oauth.subscription_expires_at == _utc(2027, 1, 1)


def test_a_console_account_decrypts_its_api_key_and_keeps_its_url(crs_source, crs_store):
    console = _accounts_by_label(crs_source, crs_store)["console"]

    assert console.api_key == crs_store.secrets["console"]["api_key"]
    assert console.api_url == CONSOLE_URL
    assert console.schedulable is False
    assert console.daily_quota == Decimal(50)
    assert console.max_concurrency == 4
    assert console.proxy is None


def test_gemini_tokens_decrypt_from_fields_and_snake_case_oauth(crs_source, crs_store):
    gemini = _accounts_by_label(crs_source, crs_store)["gemini"]

    assert gemini.provider == "gemini"
    assert gemini.access_token == crs_store.secrets["gemini"]["access_token"]
    assert gemini.refresh_token == crs_store.secrets["gemini"]["refresh_token"]
    assert gemini.scopes == ["https://www.googleapis.com/auth/cloud-platform"]


def test_unencrypted_and_legacy_values_pass_through_or_decrypt(crs_source, crs_store):
    accounts = _accounts_by_label(crs_source, crs_store)

    assert accounts["oauth_plain"].refresh_token == "plain-refresh-token-never-encrypted"
    assert accounts["oauth_plain"].access_token is None
    assert accounts["oauth_plain"].email == crs_store.secrets["oauth_plain"]["email"]
    assert accounts["azure"].api_key == "azure-plaintext-key"
    assert accounts["azure"].api_url == "https://east.openai.azure.com"


def test_bedrock_credentials_decrypt_from_the_json_form(crs_source, crs_store):
    bedrock = _accounts_by_label(crs_source, crs_store)["bedrock"]

    assert bedrock.aws_credentials == crs_store.secrets["bedrock"]["aws"]
    assert (bedrock.priority, bedrock.raw["region"]) == (40, "us-east-1")


def test_index_sets_and_empty_markers_are_not_read_as_accounts(crs_source, crs_store):
    ids = sorted(account.id for account in crs_source.accounts())

    assert ids == sorted(crs_store.account_ids.values())


def test_a_wrong_encryption_key_is_refused_before_anything_is_imported(crs_redis):
    wrong = CrsSource(crs_redis, "not-the-key-the-source-was-using")

    with pytest.raises(WrongEncryptionKey, match="does not match the source"):
        check_encryption_key(wrong)


def test_a_wrong_key_never_turns_ciphertext_into_a_token(crs_redis, crs_store):
    wrong = CrsSource(crs_redis, "not-the-key-the-source-was-using")
    oauth = next(a for a in wrong.accounts() if a.id == crs_store.account_ids["oauth"])

    assert oauth.access_token is None and oauth.refresh_token is None
    assert set(oauth.undecryptable) >= {"accessToken", "refreshToken", "claudeAiOauth"}


def test_the_right_encryption_key_passes_the_check(crs_source):
    assert check_encryption_key(crs_source) > 0


def test_a_value_that_looks_encrypted_but_does_not_decrypt_is_reported():
    cipher = CrsCipher("the-right-key")
    other = node_encrypt("secret", "another-key", SALTS["claude_console"])

    with pytest.raises(DecryptionFailed):
        cipher.decrypt(other, SALTS["claude_console"])
    assert cipher.decrypt(node_encrypt("secret", "the-right-key", b"salt"), b"salt") == "secret"
    for plaintext in ("", "sk-ant-api03-plain", "http://host:8080", "abc:def", "00:11"):
        assert cipher.decrypt(plaintext, b"salt") == plaintext


@pytest.mark.parametrize(
    ("granularity", "bucket", "offset", "start"),
    [
        ("daily", "2026-11-23", 8, _utc(2026, 11, 22, 16)),
        ("hourly", "2026-11-23:05", 8, _utc(2026, 11, 22, 21)),
        ("monthly", "2026-12", 8, _utc(2026, 11, 30, 16)),
        ("daily", "2026-11-23", 0, _utc(2026, 11, 23)),
        ("hourly", "2026-11-23:05", -5, _utc(2026, 11, 23, 10)),
    ],
)
def test_local_buckets_convert_to_their_utc_start(granularity, bucket, offset, start):
    assert bucket_start_utc(granularity, bucket, offset) == start


def _buckets(source: CrsSource, key_id: str) -> dict:
    return {
        (b.granularity, b.model, b.bucket): b for b in source.usage_buckets() if b.key_id == key_id
    }


def test_an_hour_bucket_that_crosses_the_utc_day_boundary_lands_on_the_previous_utc_day(
    crs_source, crs_store
):
    team = _buckets(crs_source, crs_store.key_ids["team"])

    hour = team[("hourly", None, "2026-11-23:05")]
    assert hour.start_utc == _utc(2026, 11, 22, 21)
    assert (hour.requests, hour.input_tokens, hour.output_tokens) == (2, 2100, 850)
    assert hour.all_tokens == 2100 + 850 + 1000
    day = team[("daily", None, "2026-11-23")]
    assert day.start_utc == _utc(2026, 11, 22, 16) and day.requests == 2
    assert team[("daily", None, "2026-11-22")].start_utc == _utc(2026, 11, 21, 16)


def test_a_request_after_local_midnight_starts_the_next_month(crs_source, crs_store):
    comma = _buckets(crs_source, crs_store.key_ids["legacy_comma"])

    month = comma[("monthly", None, "2026-12")]
    assert month.start_utc == _utc(2026, 11, 30, 16)
    assert month.requests == 1


def test_model_names_with_colons_are_parsed_from_the_right(crs_source, crs_store):
    team = _buckets(crs_source, crs_store.key_ids["team"])
    expiring = _buckets(crs_source, crs_store.key_ids["expiring"])

    sonnet = team[("hourly", "claude-sonnet-4:20250514", "2026-11-23:05")]
    assert sonnet.requests == 2
    assert (sonnet.real_cost_micro, sonnet.rated_cost_micro) == (562_500, 1_125_000)
    assert team[("daily", "us.anthropic.claude-3-5-sonnet:v1", "2026-11-22")].requests == 1
    assert team[("alltime", "claude-sonnet-4:20250514", None)].requests == 3
    assert expiring[("daily", "gpt-5:2025-08-07", "2026-11-23")].input_tokens == 500
    assert expiring[("monthly", "gpt-5:2025-08-07", "2026-11")].output_tokens == 250
    assert expiring[("hourly", "gpt-5:2025-08-07", "2026-11-23:10")].requests == 1


def test_a_free_request_leaves_its_model_buckets_without_cost(crs_source, crs_store):
    single = _buckets(crs_source, crs_store.key_ids["legacy_single"])

    flash = single[("daily", "gemini-2.5-flash", "2026-11-22")]
    assert flash.real_cost_micro is None and flash.rated_cost_micro is None


def test_usage_buckets_never_come_from_index_sets_or_global_keys(crs_source, crs_store):
    buckets = list(crs_source.usage_buckets())

    assert {b.key_id for b in buckets} <= set(crs_store.key_ids.values())
    assert "index" not in {b.model for b in buckets}
    assert all(":" not in b.key_id for b in buckets)


def test_cost_strings_are_read_per_key_and_period(crs_source, crs_store):
    team_id = crs_store.key_ids["team"]
    costs = {
        (c.kind, c.granularity, c.bucket): c for c in crs_source.costs() if c.key_id == team_id
    }

    assert costs[("rated", "total", None)].usd == Decimal("1.875")
    assert costs[("real", "total", None)].usd == Decimal("0.9375")
    assert costs[("rated", "hourly", "2026-11-23:05")].usd == Decimal("1.125")
    assert costs[("rated", "hourly", "2026-11-23:05")].start_utc == _utc(2026, 11, 22, 21)
    assert costs[("real", "daily", "2026-11-22")].usd == Decimal("0.125")
    assert costs[("rated", "monthly", "2026-11")].usd == Decimal("1.875")


def test_per_key_totals_match_every_request_made(crs_source, crs_store):
    totals = crs_source.key_totals(crs_store.key_ids.values())

    for key_id, expected in crs_store.totals.items():
        got = totals[key_id]
        assert (got.requests, got.all_tokens) == (expected.requests, expected.all_tokens)
        assert (got.cost_usd, got.real_cost_usd) == (expected.cost, expected.real_cost)
    unused = totals[crs_store.key_ids["legacy_all"]]
    assert (unused.requests, unused.all_tokens, unused.cost_usd) == (0, 0, Decimal(0))


def test_counts_report_every_entity(crs_source, crs_store):
    counts = crs_source.counts()

    assert counts["api_keys"] == 6 + len(CRS_LIMITED_KEYS) and counts["api_keys_deleted"] == 1
    assert counts["accounts:claude_oauth"] == 2
    assert sum(v for k, v in counts.items() if k.startswith("accounts:")) == 6
    assert counts["usage:key:alltime"] == len(crs_store.totals)
    assert counts["usage:key:hourly"] == 7


def test_admin_credentials_come_from_redis_or_init_json(crs_source, tmp_path):
    admin = crs_source.admin_credentials()
    init = tmp_path / "init.json"
    init.write_text(
        json.dumps(
            {
                "initializedAt": "2026-10-01T08:00:00.000Z",
                "adminUsername": "admin",
                "adminPassword": "plain-admin-password",
                "version": "1.0.0",
            }
        )
    )
    from_file = load_init_json(init)

    assert admin.username == "admin" and admin.password_hash.startswith("$2a$10$")
    assert (from_file.username, from_file.password) == ("admin", "plain-admin-password")
    assert from_file.created_at == _utc(2026, 10, 1, 8)


def test_a_client_that_returns_bytes_reads_the_same(crs_redis_port, crs_store):
    client = redis.Redis(port=crs_redis_port, db=11)
    try:
        keys = list(CrsSource(client, crs_store.encryption_key).api_keys())
    finally:
        client.close()

    assert sorted(k.id for k in keys) == sorted(crs_store.key_ids.values())


def test_the_reader_never_sends_keys_and_never_writes(crs_redis, crs_source, crs_store):
    crs_redis.config_resetstat()

    check_encryption_key(crs_source)
    crs_source.counts()
    crs_source.key_totals(crs_store.key_ids.values())
    crs_source.admin_credentials()

    used = {name.removeprefix("cmdstat_") for name in crs_redis.info("commandstats")}
    housekeeping = {"config|resetstat", "info", "select", "client|setinfo", "hello", "ping"}
    assert "keys" not in used
    assert used - housekeeping == {"scan", "type", "hgetall", "get"}

"""Pure pieces: permissions, the cache codec and keys, error translation, settings, the
input guard's JSON checks."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.api.input_guard import json_has_nul, json_too_deep
from app.cache import canonical_key, codec
from app.config import ConfigError, load_settings
from app.db.engine import translate
from app.db.repositories.usage_events import PARTITION_NAME, partition_name
from app.services.keys import permissions


def test_permissions_are_stored_canonically_and_shown_as_given():
    assert permissions.canonical("all") == "all"
    assert permissions.canonical(["openai", "claude", "openai"]) == "claude,openai"
    assert permissions.public("claude,openai") == ["claude", "openai"]
    assert permissions.public("gemini") == "gemini"
    assert permissions.allows("all", "gemini") and permissions.allows("claude,openai", "openai")
    assert not permissions.allows("claude", "openai")
    with pytest.raises(ValueError):
        permissions.canonical(["azure"])


def test_the_cache_codec_keeps_datetimes_and_decimals_exact():
    value = {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "cost": Decimal("0.00000001")}
    assert codec.loads(codec.dumps(value)) == value


def test_cache_keys_ignore_keyword_order_and_hash_long_arguments():
    assert canonical_key(1, a=1, b=2) == canonical_key(1, b=2, a=1)
    assert len(canonical_key("x" * 500)) == 64


def test_driver_errors_map_to_the_documents_codes():
    unique = IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: t.c"))
    foreign = IntegrityError("INSERT", {}, Exception("FOREIGN KEY constraint failed"))
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))
    timed_out = OperationalError("SELECT 1", {}, Exception("connection timeout expired"))
    assert translate(unique).code == "DB_DUPLICATE_KEY"
    assert translate(foreign).code == "DB_CONSTRAINT_VIOLATION"
    assert translate(refused).code == "DB_CONNECTION_FAILED"
    assert translate(timed_out).code == "DB_CONNECTION_TIMEOUT"
    assert translate(PoolTimeout("pool")).code == "DB_POOL_EXHAUSTED"


def test_production_without_a_secret_refuses_to_start(monkeypatch, tmp_path):
    monkeypatch.setenv("RELAYGATE_ENV", "production")
    monkeypatch.delenv("RELAYGATE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="RELAYGATE_SECRET_KEY"):
        load_settings({"instance_dir": tmp_path})


def test_development_generates_a_secret_once_and_keeps_it(monkeypatch, tmp_path):
    monkeypatch.delenv("RELAYGATE_ENV", raising=False)
    monkeypatch.delenv("RELAYGATE_SECRET_KEY", raising=False)
    first = load_settings({"instance_dir": tmp_path}).secret_key
    assert len(first) >= 32
    assert load_settings({"instance_dir": tmp_path}).secret_key == first


def test_a_bare_postgres_url_uses_psycopg_3(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/d")
    assert load_settings({"instance_dir": tmp_path, "secret_key": "x"}).database_url == (
        "postgresql+psycopg://u@h:5432/d")


def test_the_default_database_is_sqlite_in_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings({"instance_dir": tmp_path, "secret_key": "x"})
    assert settings.database_url == f"sqlite:///{tmp_path / 'relaygate.db'}"


def test_the_usage_retention_is_read_from_the_environment_and_bounded(monkeypatch, tmp_path):
    monkeypatch.delenv("RELAYGATE_USAGE_RETENTION_DAYS", raising=False)
    assert load_settings({"instance_dir": tmp_path, "secret_key": "x"}).usage_retention_days == 90
    monkeypatch.setenv("RELAYGATE_USAGE_RETENTION_DAYS", "30")
    assert load_settings({"instance_dir": tmp_path, "secret_key": "x"}).usage_retention_days == 30
    monkeypatch.setenv("RELAYGATE_USAGE_RETENTION_DAYS", "0")
    with pytest.raises(ConfigError, match="RELAYGATE_USAGE_RETENTION_DAYS"):
        load_settings({"instance_dir": tmp_path, "secret_key": "x"})


def test_partition_names_always_have_four_digit_years():
    assert partition_name(datetime(999, 12, 1, tzinfo=UTC)) == "usage_events_0999_12"
    assert partition_name(datetime(1, 1, 1, tzinfo=UTC)) == "usage_events_0001_01"
    assert partition_name(datetime(2026, 3, 1, tzinfo=UTC)) == "usage_events_2026_03"
    assert PARTITION_NAME.match(partition_name(datetime(5, 2, 1, tzinfo=UTC)))


def test_a_value_past_its_columns_range_is_a_constraint_violation_not_a_server_fault():
    class NumericValueOutOfRange(Exception):
        sqlstate = "22003"

    overflow = DataError("UPDATE", {}, NumericValueOutOfRange("bigint out of range"))
    assert translate(overflow).code == "DB_CONSTRAINT_VIOLATION"


@pytest.mark.parametrize(("text", "too_deep"), [
    (b"[" * 64 + b"]" * 64, False),
    (b"[" * 65 + b"]" * 65, True),
    (b'{"a":' * 65 + b"1" + b"}" * 65, True),
    (b"[" * 1000, True),  # unpaired: the parser would still descend into every one
    (b"[" * 70 + b'"]]]]]]]]"' + b"]" * 70, True),  # brackets in strings do not count
    (b"[" * 60 + b'"[[[[[[[[[[[["' + b"]" * 60, False),
    (b"[" + b"[[]]," * 100_000 + b"[]]", False),
])
def test_json_depth_is_measured_on_the_bytes_outside_strings(text, too_deep):
    assert json_too_deep(text, 64) is too_deep


def test_only_an_unescaped_u0000_escape_is_a_nul_byte():
    assert json_has_nul(b'{"a": "x\\u0000"}') and json_has_nul(b'{"a": "x\\\\\\u0000"}')
    assert not json_has_nul(b'{"a": "x\\\\u0000"}') and not json_has_nul(b'{"a": "x"}')

"""`flask --app wsgi import-crs`: its options, its errors, its exit code."""

from __future__ import annotations

from tests.migration.crs_fixture import CRS_LIMITED_KEYS
from tests.support.servers import free_port


def _invoke(app, crs_redis_port: int, *args: str):
    url = f"redis://127.0.0.1:{crs_redis_port}/11"
    return app.test_cli_runner().invoke(args=["import-crs", "--redis-url", url, *args])


def test_a_wrong_key_exits_non_zero_with_a_clear_message(app, crs_redis_port, crs_store):
    result = _invoke(app, crs_redis_port, "--crs-encryption-key", "wrong-key")

    assert result.exit_code == 1
    assert "does not match the source" in result.output
    assert "Nothing was written." in result.output


def test_the_key_may_come_from_the_environment(app, crs_redis_port, crs_store):
    result = app.test_cli_runner().invoke(
        args=["import-crs", "--redis-url", f"redis://127.0.0.1:{crs_redis_port}/11",
              "--only", "keys", "--dry-run"],
        env={"CRS_ENCRYPTION_KEY": crs_store.encryption_key})

    assert result.exit_code == 0, result.output
    assert f"keys: {6 + len(CRS_LIMITED_KEYS)} created" in result.output


def test_an_unknown_phase_is_refused(app, crs_redis_port, crs_store):
    result = _invoke(app, crs_redis_port, "--crs-encryption-key", "k", "--only", "keys,bogus")

    assert result.exit_code == 2
    assert "choose among keys, accounts, groups, usage, admins" in result.output


def test_an_unreachable_source_is_reported(app):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = app.test_cli_runner().invoke(
        args=["import-crs", "--redis-url", url, "--crs-encryption-key", "k"])

    assert result.exit_code == 1
    assert "cannot read the CRS store" in result.output


def test_a_source_holding_nothing_crs_writes_says_so_and_exits_one(app, crs_redis_port):
    import redis

    empty = redis.Redis(port=crs_redis_port, db=13)
    empty.flushdb()
    empty.close()
    result = app.test_cli_runner().invoke(args=[
        "import-crs", "--redis-url", f"redis://127.0.0.1:{crs_redis_port}/13",
        "--crs-encryption-key", "any key"])

    assert result.exit_code == 1
    assert "holds nothing claude-relay-service writes" in result.output

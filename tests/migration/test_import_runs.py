"""Import runs: idempotent, resumable after a kill, refused with a wrong key, dry runs."""

from __future__ import annotations

import time

import bcrypt
import pytest
import redis

from app import services_of
from app.crs_import.crs_crypto import WrongEncryptionKey
from app.db.repositories.api_keys import KeyFilter

from .crs_fixture import CRS_LIMITED_KEYS, build_crs_store
from .importing import command, run_import

PHASES = ("keys", "accounts", "usage", "admins")


def _table_counts(services) -> dict:
    with services.uow() as uow:
        return {
            "items": len(uow.crs_import_items.list_kind("key"))
            + len(uow.crs_import_items.list_kind("account")),
            "peppers": len(uow.key_hash_peppers.list_for("crs_sha256")),
            "keys": uow.api_keys.list_page(KeyFilter(include_deleted=True), sort_by="name",
                                           descending=False,
                                           limit=100, offset=0)[1],
            "accounts": uow.accounts.list_page(provider=None, status=None, limit=1,
                                               offset=0)[1],
        }


def test_a_second_run_changes_nothing_and_says_so(app, services, crs_redis, crs_store):
    first = run_import(app, crs_redis, crs_store.encryption_key, phases=PHASES)
    before = _table_counts(services)
    second = run_import(app, crs_redis, crs_store.encryption_key, phases=PHASES)

    assert first.changed == 16 + len(CRS_LIMITED_KEYS) and second.changed == 0
    assert [p.counts["unchanged"] + p.counts["skipped"] for p in second.phases] == [
        6 + len(CRS_LIMITED_KEYS), 6, 5, 1]
    assert "Nothing changed: every record was already imported." in second.lines()
    assert second.ok and _table_counts(services) == before


def test_a_wrong_encryption_key_stops_before_anything_is_written(app, services, crs_redis):
    with pytest.raises(WrongEncryptionKey, match="does not match the source"):
        run_import(app, crs_redis, "not-the-sources-key", phases=PHASES)

    assert _table_counts(services) == {"items": 0, "peppers": 0, "keys": 0, "accounts": 0}


def test_a_dry_run_maps_everything_and_writes_nothing(app, services, crs_redis, crs_store):
    report = run_import(app, crs_redis, crs_store.encryption_key, phases=PHASES, dry_run=True)

    assert [p.counts["created"] for p in report.phases] == [6 + len(CRS_LIMITED_KEYS), 4, 5, 1]
    assert _table_counts(services) == {"items": 0, "peppers": 0, "keys": 0, "accounts": 0}
    assert "(dry run: nothing written)" in report.lines()[0]


def test_a_changed_source_record_is_updated_on_the_next_run(app, services, crs_redis_port,
                                                            crs_store):
    own = redis.Redis(port=crs_redis_port, db=12, decode_responses=True)
    own.flushdb()
    try:
        store = build_crs_store(own)
        run_import(app, own, store.encryption_key, phases=("keys",))
        own.hset(f"apikey:{store.key_ids['team']}", "name", "renamed team key")
        again = run_import(app, own, store.encryption_key, phases=("keys",))
    finally:
        own.flushdb()
        own.close()

    assert again.phases[0].counts == {"created": 0, "updated": 1,
                                      "unchanged": 5 + len(CRS_LIMITED_KEYS), "skipped": 0}
    assert services.keys.get(store.key_ids["team"]).name == "renamed team key"


def test_an_imported_admin_logs_in_with_the_crs_password_and_is_rehashed(app, services,
                                                                         crs_redis_port):
    own = redis.Redis(port=crs_redis_port, db=12, decode_responses=True)
    own.flushdb()
    try:
        store = build_crs_store(own)
        hashed = bcrypt.hashpw(b"crs admin password", bcrypt.gensalt(4)).decode()
        own.hset("session:admin_credentials", "passwordHash", "$2a$" + hashed[4:])
        report = run_import(app, own, store.encryption_key, phases=("admins",))
    finally:
        own.flushdb()
        own.close()

    assert report.phases[0].counts["created"] == 1
    services.sessions.login("admin", "crs admin password")
    with services.uow() as uow:
        assert uow.admins.get_by_username("admin").password_hash.startswith("$argon2id$")
    services.sessions.login("admin", "crs admin password")


def test_an_existing_admin_of_the_same_name_is_kept(app, services, crs_redis, crs_store):
    services.admins.create("admin", "relaygate password")
    report = run_import(app, crs_redis, crs_store.encryption_key, phases=("admins",))

    assert report.phases[0].counts["skipped"] == 1 and report.ok
    services.sessions.login("admin", "relaygate password")


def _ledger_rows(services) -> int:
    with services.uow() as uow:
        return sum(len(uow.crs_import_items.list_kind(kind))
                   for kind in ("key", "account", "group", "binding", "usage", "admin"))


def test_a_run_killed_half_way_and_restarted_ends_complete(pg_app, postgres_url, crs_redis_port,
                                                           crs_store, tmp_path):
    services = services_of(pg_app)
    url = f"redis://127.0.0.1:{crs_redis_port}/11"
    # 6 keys (and the limited ones), 6 accounts, a group and a key's bindings, then 2 of the 5
    # keys' usage: killed inside the usage phase.
    paused = 16 + len(CRS_LIMITED_KEYS)
    killed = command(postgres_url, url, crs_store.encryption_key, tmp_path, "--pause-after",
                     str(paused))
    deadline = time.monotonic() + 60
    while _ledger_rows(services) < paused and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.kill()
    killed.communicate()
    assert _ledger_rows(services) == paused

    restarted = command(postgres_url, url, crs_store.encryption_key, tmp_path)
    out, err = restarted.communicate(timeout=120)

    assert restarted.returncode == 0, out + err
    assert (f"keys: 0 created, 0 updated, {6 + len(CRS_LIMITED_KEYS)} unchanged, 0 skipped"
            in out)
    assert "usage: 3 created, 0 updated, 2 unchanged, 0 skipped" in out
    assert "admins: 1 created" in out
    assert "Verification passed." in out
    assert _ledger_rows(services) == 20 + len(CRS_LIMITED_KEYS)
    with services.uow() as uow:
        for key_id, expected in crs_store.totals.items():
            assert uow.api_keys.get(key_id).total_requests == expected.requests
    assert "usage" in err and "accounts" in err  # the progress bars


def test_the_import_only_reads_the_source_and_never_sends_keys(app, crs_redis, crs_store):
    crs_redis.config_resetstat()
    report = run_import(app, crs_redis, crs_store.encryption_key, phases=PHASES)

    used = {name.removeprefix("cmdstat_") for name in crs_redis.info("commandstats")}
    housekeeping = {"config|resetstat", "info", "select", "client|setinfo", "hello", "ping"}
    assert report.ok
    assert used - housekeeping == {"scan", "type", "hgetall", "get"}

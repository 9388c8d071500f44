"""The Redis schema: the key names running instances depend on, and every script by name."""

import re
from datetime import UTC, datetime
from pathlib import Path

from app.cache import lua
from app.cache.keys import RedisKeys, slot_tag

APP = Path(__file__).resolve().parents[2] / "app"
SCRIPTS = APP / "cache" / "scripts"


def test_every_key_pattern_keeps_the_name_a_rolling_deploy_reads():
    keys, start = RedisKeys("rg:"), datetime(2026, 12, 1, tzinfo=UTC)
    assert keys.cached_value("apikey", 1, slot_tag("h")) == "rg:c:apikey:v1:{h}"
    assert keys.cache_generation("apikey", slot_tag("h")) == "rg:g:apikey:{h}"
    assert keys.cache_fill_lock("apikey", slot_tag("h")) == "rg:l:apikey:{h}"
    assert keys.quota_counters() == "rg:q:"
    assert (keys.quota_counter("user:u1", "basic", "day", start)
            == "rg:q:user:u1:basic:day:1796083200")
    assert keys.slot_bucket("rpm:k1") == "rg:slots:rpm:k1"
    assert keys.account_leases("a1") == "rg:lease:account:a1"
    assert keys.oauth_refresh_lock("a1") == "rg:lock:oauth-refresh:a1"
    assert keys.alert_evaluator_lock() == "rg:alerts:evaluator"
    assert keys.strategy_version() == "rg:strategy:version"
    assert keys.sticky_session("k1", "abc") == "rg:sticky:k1:abc"
    assert keys.key_windows(slot_tag("k1")) == ["rg:kw:{k1}:log", "rg:kw:{k1}:amounts",
                                                "rg:kw:{k1}:state"]
    assert keys.login_failures("address:10.0.0.1") == "rg:login:address:10.0.0.1"
    assert keys.usage_stream() == "rg:usage:stream"
    assert keys.usage_dead_letters() == "rg:usage:dead"
    assert keys.usage_drains() == "rg:usage:drains"
    assert keys.metrics_bucket(60, 1796083200) == "rg:m:60:1796083200"
    assert keys.query_stats("calls") == "rg:qs:{stats}:calls"


def test_a_braced_or_empty_ident_is_hashed_so_the_cluster_tag_stays_whole():
    assert slot_tag("a{b") == "{" + slot_tag("a{b")[1:-1] + "}"
    assert "{" not in slot_tag("a{b")[1:-1] and len(slot_tag("")) == 34


def test_every_script_loads_by_name_with_its_includes_expanded():
    names = sorted(path.stem for path in SCRIPTS.glob("*.lua"))
    assert names
    for name in names:
        text = lua.source(name)
        assert "--#include" not in text and "redis.call" in text


def test_every_script_is_run_somewhere_by_its_name():
    code = "\n".join(path.read_text() for path in APP.rglob("*.py"))
    run = set(re.findall(r'(?:scripts\.run|run)(?:_many)?\(\s*"(\w+)"', code))
    run |= set(re.findall(r'run_script\(\s*[\w.]+,\s*"(\w+)"', code))  # with riders
    assert {path.stem for path in SCRIPTS.glob("*.lua")} <= run


def test_no_module_outside_app_cache_imports_redis():
    # app/crs_import reads claude-relay-service's own Redis (the importer's source), not ours.
    importing = [str(path.relative_to(APP)) for path in APP.rglob("*.py")
                 if re.search(r"^\s*(import redis|from redis)", path.read_text(), re.M)
                 and path.parent.name != "cache" and "crs_import" not in path.parts]
    assert importing == []

"""The garbage collector of a worker once its app is loaded (app/collector.py,
RELAYGATE_GC_THRESHOLD): what the app keeps is frozen, young collections run less often."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import GC_THRESHOLD, ConfigError
from tests.support.apps import settings_read

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("given", "read"), [
    (None, GC_THRESHOLD), ("", GC_THRESHOLD), ("  ", GC_THRESHOLD),
    ("5000,20,5", (5000, 20, 5)), (" 700 , 10 , 10 ", (700, 10, 10)),
    ("python", None), ("Python", None),
])
def test_the_setting_reads_three_thresholds_or_pythons_own(monkeypatch, tmp_path, given, read):
    settings = settings_read(monkeypatch, tmp_path, "RELAYGATE_GC_THRESHOLD", given)
    assert settings.gc_threshold == read


@pytest.mark.parametrize("given", ["10000", "10000,10", "1,2,3,4", "0,10,10", "-1,10,10",
                                   "a,b,c", "10000;10;10", "off"])
def test_a_setting_that_names_no_thresholds_is_refused_by_name(monkeypatch, tmp_path, given):
    with pytest.raises(ConfigError, match="RELAYGATE_GC_THRESHOLD"):
        settings_read(monkeypatch, tmp_path, "RELAYGATE_GC_THRESHOLD", given)


# Run in a child process: the test process's own collector is left as it is.
_WORKER = """
import gc, json, runpy, sys
from types import SimpleNamespace
from app import create_app
conf = runpy.run_path("gunicorn.conf.py")
app = create_app({"instance_dir": sys.argv[1]})
before = (gc.get_threshold(), gc.get_freeze_count())
conf["post_worker_init"](SimpleNamespace(wsgi=app, cfg=SimpleNamespace(graceful_timeout=30)))
print(json.dumps({"before": before, "after": (gc.get_threshold(), gc.get_freeze_count())}))
"""


def _worker_collector(tmp_path, setting: str | None) -> dict:
    env = {name: value for name, value in os.environ.items()
           if name not in ("DATABASE_URL", "REDIS_URL", "RELAYGATE_GC_THRESHOLD")}
    if setting is not None:
        env["RELAYGATE_GC_THRESHOLD"] = setting
    done = subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_gunicorn_worker_freezes_what_its_app_keeps_and_collects_by_the_setting(tmp_path):
    seen = _worker_collector(tmp_path, None)
    assert tuple(seen["before"][0]) == (700, 10, 10)  # Python's own, until the worker settles
    assert seen["before"][1] == 0
    assert tuple(seen["after"][0]) == GC_THRESHOLD
    # The loaded app's objects (modules, metadata, the catalogue) are out of every collection.
    assert seen["after"][1] > 10_000
    chosen = _worker_collector(tmp_path, "2000,5,5")
    assert tuple(chosen["after"][0]) == (2000, 5, 5) and chosen["after"][1] > 10_000


def test_python_leaves_the_workers_collector_as_it_is(tmp_path):
    seen = _worker_collector(tmp_path, "python")
    assert seen["after"] == seen["before"]
    assert tuple(seen["after"][0]) == (700, 10, 10) and seen["after"][1] == 0

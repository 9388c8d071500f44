"""The chaos script's short version (scripts/chaos/multi_instance.py --short): two instances
under gunicorn behind haproxy, PgBouncer, one Redis with AOF, a Redis restart, a SIGKILLed
instance and killed Redis connections; every answer has one usage record, the counter equals
the records, 60 concurrent requests against a quota of 25 admit exactly 25, no 5xx outside the
fault windows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.envvars import ROOT

TOOLS = ("haproxy", "pgbouncer", "redis-server")


def test_two_instances_behind_haproxy_survive_faults_with_exact_usage_and_limits(pg_database):
    missing = [tool for tool in TOOLS
               if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install -y {' '.join(missing)})")
    finished = subprocess.run([sys.executable, "-m", "scripts.chaos.multi_instance", "--short"],
                              cwd=ROOT, capture_output=True, text=True, timeout=240)
    print(finished.stdout[-4000:], finished.stderr[-4000:])
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    assert "RESULT: ok" in finished.stdout
    assert "25 admitted, 35 refused" in finished.stdout

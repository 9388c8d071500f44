"""Running the CRS import in tests: in process on the test's app, or as the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app import services_of
from app.crs_import.crs_source import CrsSource
from app.crs_import.importer import ImportService
from app.crs_import.progress import silent

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "test-secret-key-for-relaygate"  # what tests.support.apps.make_app configures


def importer(app, **kwargs) -> ImportService:
    services = services_of(app)
    return ImportService(uow=services.uow, keys=services.keys, box=services.accounts.box,
                         groups=services.account_groups,
                         usage=services.usage, progress=silent, **kwargs)


def run_import(app, client, encryption_key: str, offset: float = 8, **kwargs):
    """Import the store `client` is connected to; the report."""
    return importer(app).run(CrsSource(client, encryption_key, offset), **kwargs)


def command(database_url: str, redis_url: str, encryption_key: str, tmp_path,
            *extra: str) -> subprocess.Popen:
    """`flask --app wsgi import-crs ...` in a process of its own (stdout and stderr piped)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url,
           "RELAYGATE_SECRET_KEY": SECRET_KEY, "RELAYGATE_INSTANCE_DIR": str(tmp_path),
           "RELAYGATE_ARGON2_TIME_COST": "1", "RELAYGATE_ARGON2_MEMORY_KIB": "64"}
    env.pop("REDIS_URL", None)
    args = [sys.executable, "-m", "flask", "--app", "wsgi", "import-crs", "--redis-url",
            redis_url, "--crs-encryption-key", encryption_key, *extra]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

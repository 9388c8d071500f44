"""A benchmark's throwaway PostgreSQL database and Redis key prefix, and the app on them.

    with throwaway(args.database_url, args.redis_url, label="drainbench") as place:
        services = place.services()  # or place.app(), or place.env() for a gunicorn

On entry the database is created and migrated (and, with `private_redis`, a redis-server of
the run's own started). On the way out everything is removed, whatever the benchmark raised:
the processes handed to `place.stops` are stopped and the engines built here disposed, then
the prefix's keys are deleted (or the private redis-server stopped) and the database dropped,
unless `keep` asks to keep it for a look afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from flask import Flask

from app import create_app, services_of
from app.bootstrap import Services, bootstrap
from app.config import load_settings
from app.db.migrations import upgrade
from tests.support.servers import PrivateRedis, pg_admin_dsn, pg_drop, pg_execute

ROOT = Path(__file__).resolve().parents[2]
SECRET = "relaygate-benchmark-secret-key-of-32-bytes-or-more"


@dataclass
class Throwaway:
    """Where a benchmark runs: its own migrated database and Redis key prefix (no Redis at all
    when `redis_url` is None)."""

    database_url: str
    redis_url: str | None
    prefix: str
    name: str  # the database's
    private_redis: PrivateRedis | None = None
    _on_exit: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _instance_dir: Path | None = None

    def config(self, **overrides: Any) -> dict[str, Any]:
        """The settings of an app on this place, as create_app and load_settings take them."""
        if self._instance_dir is None:
            self._instance_dir = Path(self._on_exit.enter_context(
                tempfile.TemporaryDirectory(prefix="rg-bench-")))
        return {"database_url": self.database_url, "redis_url": self.redis_url,
                "redis_prefix": self.prefix, "secret_key": SECRET,
                "instance_dir": self._instance_dir, **overrides}

    def app(self, **overrides: Any) -> Flask:
        """The Flask app on this place; its engine is disposed on the way out."""
        app = create_app(self.config(**overrides))
        self._on_exit.callback(services_of(app).engine.dispose)
        return app

    def services(self, **overrides: Any) -> Services:
        """The services on this place, without Flask; their engine is disposed on the way out."""
        services = bootstrap(load_settings(self.config(**overrides)))
        self._on_exit.callback(services.engine.dispose)
        return services

    def env(self, **variables: str) -> dict[str, str]:
        """The environment of a server process (gunicorn) on this place, in production mode."""
        python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return {**os.environ, "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url or "", "RELAYGATE_REDIS_PREFIX": self.prefix,
                "RELAYGATE_SECRET_KEY": SECRET,
                "RELAYGATE_METRICS_TOKEN": "relaygate-benchmark-metrics",
                "RELAYGATE_ENV": "production", "PYTHONPATH": python_path, **variables}

    def stops(self, process: subprocess.Popen, *, wait: float = 60) -> subprocess.Popen:
        """`process` (which uses this place) is terminated and waited for on the way out."""

        def stop() -> None:
            process.terminate()
            process.wait(wait)

        self._on_exit.callback(stop)
        return process


@contextlib.contextmanager
def throwaway(database_url: str, redis_url: str | None, *, label: str = "bench",
              private_redis: bool = False, keep: bool = False) -> Iterator[Throwaway]:
    """A new database beside `database_url`'s, a new key prefix in `redis_url` (or in a private
    redis-server), removed on the way out; `label` names them (`rg_<label>_…`)."""
    admin = pg_admin_dsn(database_url)
    name = f"rg_{label}_{uuid.uuid4().hex[:8]}"
    private = PrivateRedis().start() if private_redis else None
    place = Throwaway(database_url=database_url.rsplit("/", 1)[0] + "/" + name,
                      redis_url=private.url if private else redis_url,
                      prefix=f"rg{label}:{uuid.uuid4().hex[:8]}:", name=name,
                      private_redis=private)
    try:
        pg_execute(admin, f'CREATE DATABASE "{name}"')
        with place._on_exit:
            upgrade(place.database_url)
            yield place
    finally:
        if private is not None:
            private.stop()
        elif place.redis_url is not None:
            client = redis.Redis.from_url(place.redis_url)
            stale = list(client.scan_iter(match=place.prefix + "*", count=1000))
            if stale:
                client.delete(*stale)
        if keep:
            print(f"kept database {name}")
        else:
            pg_drop(admin, name)

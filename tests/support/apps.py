"""Building the app under test, and the settings of the machine's PostgreSQL and Redis.

Tests import these directly; tests/support/apps.py makes fixtures of them.
"""

from __future__ import annotations

import os

from app import create_app, services_of
from app.config import RetryPolicy, Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("RELAYGATE_TEST_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RELAYGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
THROUGH_PGBOUNCER = os.environ.get("RELAYGATE_TEST_PGBOUNCER", "").lower() in ("1", "true")
if THROUGH_PGBOUNCER:
    # Apps built here and the servers tests start (gunicorn, the drain worker) read it.
    os.environ["RELAYGATE_DB_PGBOUNCER"] = "true"
ADMIN = {"username": "admin", "password": "correct horse battery"}


def make_app(tmp_path, database_url: str, redis_url: str | None = None,
             redis_prefix: str = "rg:", **overrides):
    config = {
        "database_url": database_url, "redis_url": redis_url, "redis_prefix": redis_prefix,
        "secret_key": "test-secret-key-for-relaygate", "instance_dir": tmp_path,
        "db_retry": RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01),
        # Cheap password hashing keeps logins fast in tests; production keeps argon2's defaults.
        "argon2_time_cost": 1, "argon2_memory_kib": 64,
    }
    config.update(overrides)
    return create_app(config)


def settings_read(monkeypatch, tmp_path, name: str, value: str | None) -> Settings:
    """The settings as read with the environment variable `name` set to `value` (None: unset).
    Raises what load_settings raises."""
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)
    return load_settings({"instance_dir": tmp_path})


def login_headers(application) -> dict:
    svc = services_of(application)
    svc.admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    token = svc.sessions.login(ADMIN["username"], ADMIN["password"])["session_token"]
    return {"Authorization": f"Bearer {token}"}


"""Fixtures: the app on both backends (SQLite, and PostgreSQL + Redis), clients, credentials.

Every test that takes `app` runs twice: on the embedded default (SQLite, no Redis) and on real
PostgreSQL and Redis. With CI=true an unreachable PostgreSQL or Redis fails the run loudly;
elsewhere those tests are skipped with a reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis
from argon2 import PasswordHasher

from app import create_app, security
from app.config import RetryPolicy
from app.db.migrations import upgrade
from tests.support.servers import (
    PrivateRedis,
    pg_admin_dsn,
    pg_create_from_template,
    pg_drop,
    pg_execute,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("RELAYGATE_TEST_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RELAYGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN = {"username": "admin", "password": "correct horse battery"}


def _unavailable(what: str, error: Exception):
    message = f"{what} is unreachable: {error}"
    if IN_CI:
        pytest.fail(f"CI needs {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing():
    """Argon2 at its default cost takes ~0.5 s a hash here; tests need no brute-force resistance."""
    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    security._hasher = original


@pytest.fixture(scope="session")
def pg_template():
    """A PostgreSQL database migrated to head once; each test gets a copy of it."""
    admin = pg_admin_dsn(PG_URL)
    try:
        pg_execute(admin, "SELECT 1")
    except psycopg.Error as error:
        _unavailable("PostgreSQL", error)
    name = f"rg_template_{uuid.uuid4().hex[:8]}"
    pg_execute(admin, f'CREATE DATABASE "{name}"')
    upgrade(PG_URL.rsplit("/", 1)[0] + "/" + name)
    yield admin, name
    pg_drop(admin, name)


@pytest.fixture(scope="session")
def redis_server_url():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        _unavailable("Redis", error)
    return REDIS_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


class _DatabaseSupply:
    """Test databases copied one ahead and dropped behind on a background thread.

    A CREATE ... TEMPLATE takes ~0.6 s here and a DROP ~1.5 s (mostly a checkpoint, which
    concurrent drops share); neither need block a test.
    """

    def __init__(self, admin: str, template: str):
        self.admin, self.template = admin, template
        self.creator, self.dropper = ThreadPoolExecutor(1), ThreadPoolExecutor(4)
        self.ahead = self._create()

    def _create(self):
        return self.creator.submit(pg_create_from_template, self.admin, self.template, PG_URL)

    def take(self) -> tuple[str, str]:
        ready, self.ahead = self.ahead.result(), self._create()
        return ready

    def give_back(self, name: str) -> None:
        self.dropper.submit(pg_drop, self.admin, name)

    def close(self) -> None:
        self.give_back(self.ahead.result()[0])
        self.creator.shutdown(wait=True)
        self.dropper.shutdown(wait=True)


@pytest.fixture(scope="session")
def pg_databases(pg_template):
    supply = _DatabaseSupply(*pg_template)
    yield supply
    supply.close()


@pytest.fixture
def postgres_url(pg_databases):
    name, url = pg_databases.take()
    yield url
    pg_databases.give_back(name)


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path):
    path = tmp_path / "relaygate.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def redis_prefix(redis_server_url):
    prefix = f"rgtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_server_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def make_app(tmp_path, database_url: str, redis_url: str | None = None,
             redis_prefix: str = "rg:", **overrides):
    config = {
        "database_url": database_url, "redis_url": redis_url, "redis_prefix": redis_prefix,
        "secret_key": "test-secret-key-for-relaygate", "instance_dir": tmp_path,
        "db_retry": RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01),
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    return request.param


@pytest.fixture
def app_config(backend, request, tmp_path) -> dict:
    """Settings of the app under test; a test may add overrides before `app` is built."""
    if backend == "postgres":
        return {"database_url": request.getfixturevalue("postgres_url"),
                "redis_url": request.getfixturevalue("redis_server_url"),
                "redis_prefix": request.getfixturevalue("redis_prefix")}
    return {"database_url": request.getfixturevalue("sqlite_url")}


@pytest.fixture
def app(app_config, tmp_path):
    application = make_app(tmp_path, **app_config)
    yield application
    application.extensions["relaygate"].engine.dispose()


@pytest.fixture
def pg_app(postgres_url, redis_server_url, redis_prefix, tmp_path):
    """The app on PostgreSQL and Redis only: for tests of Redis-backed behaviour."""
    application = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
    yield application
    application.extensions["relaygate"].engine.dispose()


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def services(app):
    return app.extensions["relaygate"]


@pytest.fixture
def client(app):
    return app.test_client()


def login_headers(application) -> dict:
    svc = application.extensions["relaygate"]
    svc.admins.ensure_initial(ADMIN["username"], ADMIN["password"])
    token = svc.sessions.login(ADMIN["username"], ADMIN["password"])["sessionToken"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin_headers(app) -> dict:
    return login_headers(app)


@pytest.fixture
def make_key(client, admin_headers):
    """Create a key through the API; returns the answer's data (with the plaintext apiKey)."""

    def create(**fields) -> dict:
        fields.setdefault("name", f"key-{uuid.uuid4().hex[:6]}")
        response = client.post("/api/keys", json=fields, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json["data"]

    return create


@pytest.fixture
def make_user(client, admin_headers):
    """Create a user through the API; returns the answer's data."""

    def create(**fields) -> dict:
        fields.setdefault("email", f"user-{uuid.uuid4().hex[:8]}@example.com")
        response = client.post("/api/users", json=fields, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json["data"]

    return create


@pytest.fixture
def user_session(client, admin_headers):
    """Headers of a fresh session of the given user (userType 'user')."""

    def login(user_id: str) -> dict:
        response = client.post("/api/sessions", json={"userId": user_id, "userType": "user"},
                               headers=admin_headers)
        assert response.status_code == 201, response.json
        return {"Authorization": f"Bearer {response.json['data']['sessionToken']}"}

    return login

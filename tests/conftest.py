"""Fixtures: the app on both backends (SQLite, and PostgreSQL + Redis), clients, credentials.

Every test that takes `app` runs twice: on the embedded default (SQLite, no Redis) and on real
PostgreSQL and Redis. With CI=true an unreachable PostgreSQL or Redis fails the run loudly;
elsewhere those tests are skipped with a reason. With RELAYGATE_TEST_PGBOUNCER=true the apps'
PostgreSQL URLs go through a private PgBouncer in transaction pooling mode (docs/deploy.md);
migrations and the per-test reset still reach PostgreSQL directly.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from app import services_of
from app.cache.topology import connect
from app.db.migrations import upgrade
from scripts.stub_upstream import StubUpstream
from tests.support.apps import (
    IN_CI,
    PG_URL,
    REDIS_URL,
    THROUGH_PGBOUNCER,
    login_headers,
    make_app,
)
from tests.support.servers import (
    PgResetter,
    PrivatePgBouncer,
    PrivateRedis,
    pg_admin_dsn,
    pg_create,
    pg_drop,
    pg_execute,
)

# Modules of long tests (subprocesses: gunicorn, the chaos script, schemathesis, chromium), the
# longest first. They are collected first, so that pytest-xdist hands them out at the start
# (a test of a minute starting near the end would leave the other worker idle meanwhile).
# Only the order changes; each module's tests stay together, in their own order.
LONG_FIRST = (
    "tests/ops/test_multi_instance.py",
    "tests/api/test_openapi_fuzz.py",
    "tests/integration/test_gunicorn.py",
    "tests/ops/test_gunicorn_durability.py",
    "tests/ops/test_gunicorn_ops.py",
    "tests/ops/test_slow_clients.py",
    "tests/integration/test_url_key_redaction.py",
    "tests/browser/test_console.py",
    "tests/ops/test_usage_durability.py",
    "tests/docs/test_quick_start.py",
    "tests/integration/test_migrations.py",
)


def pytest_collection_modifyitems(items):
    rank = {path: index for index, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def _unavailable(what: str, error: Exception):
    message = f"{what} is unreachable: {error}"
    if IN_CI:
        pytest.fail(f"CI needs {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database():
    """A PostgreSQL database of this test session, migrated to head once."""
    admin = pg_admin_dsn(PG_URL)
    try:
        pg_execute(admin, "SELECT 1")
    except psycopg.Error as error:
        _unavailable("PostgreSQL", error)
    name = f"rg_test_{uuid.uuid4().hex[:10]}"
    pg_create(admin, name)
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    resetter = PgResetter(url)
    yield url, resetter
    resetter.close()
    pg_drop(admin, name)


@pytest.fixture(scope="session")
def redis_server_url():
    client = connect(REDIS_URL, socket_timeout=2)  # a cluster or sentinel URL too
    try:
        client.ping()
    except redis.RedisError as error:
        _unavailable("Redis", error)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def session_pgbouncer():
    """The session's PgBouncer when RELAYGATE_TEST_PGBOUNCER is set, else None."""
    if not THROUGH_PGBOUNCER:
        yield None
        return
    # Not under pytest's basetemp: pgbouncer may run as another user, who could not enter it.
    workdir = Path(tempfile.mkdtemp(prefix="rg-pgbouncer-"))
    bouncer = PrivatePgBouncer(PG_URL, workdir).start()
    yield bouncer
    bouncer.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_url(pg_database, session_pgbouncer):
    """The session's database, emptied back to its migrated state after the test."""
    url, resetter = pg_database
    yield url if session_pgbouncer is None else session_pgbouncer.route(url)
    resetter.reset()


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path):
    path = tmp_path / "relaygate.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def redis_prefix(redis_server_url):
    prefix = f"rgtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = connect(redis_server_url, socket_timeout=5)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


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
    services_of(application).engine.dispose()


@pytest.fixture
def pg_app(postgres_url, redis_server_url, redis_prefix, tmp_path):
    """The app on PostgreSQL and Redis only: for tests of Redis-backed behaviour."""
    application = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix)
    yield application
    services_of(application).engine.dispose()


@pytest.fixture
def stored_pg_app(postgres_url, redis_server_url, redis_prefix, tmp_path):
    """pg_app with RELAYGATE_CHAT_OPTIMIZED_USAGE=stored: chat-optimized stores its usage
    before its answer ends (its synchronous store, settling its Redis hold)."""
    application = make_app(tmp_path, postgres_url, redis_server_url, redis_prefix,
                           chat_optimized_usage="stored")
    yield application
    services_of(application).engine.dispose()


@pytest.fixture
def private_redis():
    server = PrivateRedis().start()
    yield server
    server.stop()


@pytest.fixture
def services(app):
    return services_of(app)


@pytest.fixture
def client(app):
    return app.test_client()


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
def stub_upstream():
    """The stub OpenAI/Anthropic/Gemini/OAuth server on 127.0.0.1 (scripts/stub_upstream.py)."""
    with StubUpstream() as stub:
        yield stub


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

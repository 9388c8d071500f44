"""PostgreSQL through PgBouncer in transaction pooling mode (RELAYGATE_DB_PGBOUNCER): no prepared
statements, no session state carried between transactions, and admission still exact."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from app import services_of
from app.errors import DatabaseError, LimitExceeded
from app.services.quota.reservations import Reservation
from tests.integration.test_quota_authority import MODEL, in_total, setup
from tests.support.apps import make_app
from tests.support.quota import all_at_once
from tests.support.servers import PrivatePgBouncer


@pytest.fixture
def bouncer(pg_database):
    """A PgBouncer with two server connections, so clients share them transaction by
    transaction."""
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        pytest.skip("pgbouncer is not installed (apt-get install -y pgbouncer)")
    url, resetter = pg_database
    workdir = Path(tempfile.mkdtemp(prefix="rg-pgbouncer-"))
    server = PrivatePgBouncer(url, workdir, pool_size=2).start()
    yield server, server.route(url)
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    resetter.reset()


@pytest.fixture
def bounced_app(bouncer, redis_server_url, redis_prefix, tmp_path):
    _, url = bouncer
    application = make_app(tmp_path, url, redis_server_url, redis_prefix, db_pgbouncer=True,
                           db_statement_timeout_ms=300, db_pool_size=4)
    yield application
    services_of(application).engine.dispose()


def test_the_statement_timeout_holds_in_every_transaction_through_pgbouncer(bounced_app):
    services = services_of(bounced_app)
    for _ in range(6):  # more transactions than server connections: each one is timed out
        with services.uow() as uow:
            timeout = uow.session.execute(text("SHOW statement_timeout")).scalar()
            assert timeout == "300ms"
    with pytest.raises(DatabaseError) as raised, services.uow() as uow:
        uow.session.execute(text("SELECT pg_sleep(2)"))
    assert raised.value.code == "DB_QUERY_TIMEOUT"


def test_the_same_statement_many_times_over_shared_server_connections_never_fails(bounced_app):
    engine = services_of(bounced_app).engine
    # psycopg prepares a statement run five times on one client connection; two clients taking
    # turns on one server connection would then clash over the prepared statement's name.
    first, second = engine.connect(), engine.connect()
    try:
        for turn in range(12):
            for connection in (first, second):
                with connection.begin():
                    found = connection.execute(text("SELECT :turn + count(*) FROM api_keys "
                                                    "WHERE name = 'none'"), {"turn": turn})
                    assert found.scalar() == turn
    finally:
        first.close()
        second.close()


def test_concurrent_reserves_and_holds_through_pgbouncer_grant_exactly_the_limit(bounced_app):
    quota, subject, counter = setup(bounced_app, 12, "bounced")
    take = (quota.reserve, quota.hold)
    results = all_at_once(40, lambda i: take[i % 2](subject, MODEL))
    granted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, LimitExceeded)]
    assert (len(granted), len(refused)) == (12, 28), [
        r for r in results if r not in granted + refused]
    assert in_total(quota, counter) == 12


def test_the_database_alone_grants_exactly_the_limit_through_pgbouncer(bouncer, tmp_path):
    _, url = bouncer
    application = make_app(tmp_path, url, None, db_pgbouncer=True, db_pool_size=4)
    try:
        quota, subject, counter = setup(application, 9, "bounced-db")
        results = all_at_once(30, lambda i: quota.reserve(subject, MODEL))
        assert sum(isinstance(r, Reservation) for r in results) == 9
        assert sum(isinstance(r, LimitExceeded) for r in results) == 21
        assert quota._stored(counter).used == 9
    finally:
        services_of(application).engine.dispose()

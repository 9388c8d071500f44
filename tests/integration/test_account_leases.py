"""maxConcurrency: leases in Redis, or in the database without Redis, under real concurrency."""

import threading
import time

import pytest

from app import services_of
from app.services.accounts.scheduler import NoAccountAvailable
from tests.support.accounts import api_key_body, to_service
from tests.support.apps import make_app

WORKERS = 50


@pytest.fixture
def pg_without_redis(postgres_url, tmp_path):
    """PostgreSQL alone: leases in the database (`services` covers PostgreSQL with Redis)."""
    app = make_app(tmp_path, postgres_url, None)
    yield services_of(app)
    services_of(app).engine.dispose()


def _create(services, **fields) -> str:
    return services.accounts.create(to_service(api_key_body(**fields)))["id"]


def _acquire_all_at_once(services) -> tuple[list, int]:
    """WORKERS threads acquire at the same moment and hold what they get until all have tried."""
    start, tried = threading.Barrier(WORKERS), threading.Barrier(WORKERS)
    leases, refused, errors = [], [], []

    def worker():
        start.wait()
        try:
            leases.append(services.scheduler.acquire("openai", "model"))
        except NoAccountAvailable:
            refused.append(1)
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        tried.wait()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return leases, len(refused)


def _check_limits(services):
    big = _create(services, priority=90, maxConcurrency=5)
    small = _create(services, priority=10, maxConcurrency=3)
    leases, refused = _acquire_all_at_once(services)
    held = [lease.account.id for lease in leases]
    assert (held.count(big), held.count(small), refused) == (5, 3, WORKERS - 8)
    for lease in leases:
        lease.release()
    again, refused = _acquire_all_at_once(services)
    assert (len(again), refused) == (8, WORKERS - 8)
    for lease in again:
        lease.release()


def test_fifty_concurrent_acquisitions_never_pass_max_concurrency(services):
    _check_limits(services)


def test_fifty_concurrent_acquisitions_never_pass_max_concurrency_on_postgres_alone(
        pg_without_redis):
    _check_limits(pg_without_redis)


def test_an_account_without_a_limit_serves_everyone(services):
    account = _create(services)
    leases, refused = _acquire_all_at_once(services)
    assert refused == 0 and {lease.account.id for lease in leases} == {account}


def test_a_lease_left_by_a_dead_worker_expires(app_config, tmp_path):
    app = make_app(tmp_path, **app_config, account_lease_ttl_seconds=1)
    services = services_of(app)
    try:
        _create(services, maxConcurrency=1)
        abandoned = services.scheduler.acquire("openai")
        assert abandoned.renew() is True
        with pytest.raises(NoAccountAvailable):
            services.scheduler.acquire("openai")
        time.sleep(1.2)  # the worker "died": nobody releases or renews
        with services.scheduler.acquire("openai") as lease:
            assert lease.account.id == abandoned.account.id
        assert abandoned.renew() is False
    finally:
        services.engine.dispose()


def test_leases_fall_back_to_the_database_when_redis_dies(postgres_url, private_redis,
                                                          tmp_path):
    app = make_app(tmp_path, postgres_url, private_redis.url)
    services = services_of(app)
    try:
        _create(services, maxConcurrency=1)
        before = services.scheduler.acquire("openai")  # held in Redis
        before.release()
        private_redis.stop()
        during = services.scheduler.acquire("openai")  # Redis is gone: held in the database
        with pytest.raises(NoAccountAvailable):
            services.scheduler.acquire("openai")
        during.release()
        with services.scheduler.acquire("openai"):
            pass
    finally:
        services.engine.dispose()

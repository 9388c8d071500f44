"""A private redis-server for the CRS reader tests, loaded once with the fixture keyspace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from app.crs_import.crs_source import CrsSource
from tests.support.servers import PrivateRedis

from .crs_fixture import CrsFixture, build_crs_store

CRS_DB = 11


@pytest.fixture(scope="session")
def crs_redis_port() -> Iterator[int]:
    server = PrivateRedis().start()
    yield server.port
    server.stop()


@pytest.fixture(scope="session")
def crs_store(crs_redis_port: int) -> Iterator[CrsFixture]:
    client = redis.Redis(port=crs_redis_port, db=CRS_DB, decode_responses=True)
    client.flushdb()
    try:
        yield build_crs_store(client)
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def crs_redis(crs_redis_port: int, crs_store: CrsFixture) -> Iterator[redis.Redis]:
    client = redis.Redis(port=crs_redis_port, db=CRS_DB, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def crs_source(crs_redis: redis.Redis, crs_store: CrsFixture) -> CrsSource:
    return CrsSource(crs_redis, crs_store.encryption_key, timezone_offset_hours=8)

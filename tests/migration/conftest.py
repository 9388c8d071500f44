"""A private redis-server for the CRS reader tests, loaded once with the fixture keyspace."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from app.migration.crs_source import CrsSource

from .crs_fixture import CrsFixture, build_crs_store

CRS_DB = 11


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def crs_redis_port() -> Iterator[int]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [server, *args, "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    probe = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail(f"redis-server did not start on port {port}")
        yield port
    finally:
        probe.close()
        proc.terminate()
        proc.wait(timeout=10)


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

"""The pools' lean checkout (app/cache/pools.py): redis-py's guarantees without its metrics."""

from __future__ import annotations

import pytest
import redis

from app.cache import pools
from app.cache.pools import BlockingPool
from app.cache.round_trip import send
from app.cache.topology import connect

pytestmark = pytest.mark.redis


@pytest.fixture
def recorded(monkeypatch):
    """redis-py's connection-count records, as the pools make them."""
    calls = []
    original = redis.connection.record_connection_count

    def record(*args, **kwargs):
        calls.append(kwargs.get("counter"))
        return original(*args, **kwargs)

    monkeypatch.setattr(redis.connection, "record_connection_count", record)
    return calls


def test_a_checkout_records_no_connection_counts_unless_observability_is_on(
        private_redis, recorded, monkeypatch):
    client = connect(private_redis.url, socket_timeout=2)
    assert isinstance(client.connection_pool, BlockingPool)
    send(client, [("PING",)])  # the connection is made (recorded once)
    recorded.clear()
    for _ in range(3):
        assert send(client, [("PING",)]) == [b"PONG"]
    assert recorded == []
    monkeypatch.setattr(pools, "_observed", lambda: True)  # redis-py's own checkout
    assert send(client, [("PING",)]) == [b"PONG"]
    assert recorded == [-1, 1, -1, 1]


def test_a_pooled_connection_the_server_closed_is_connected_again_at_checkout(private_redis):
    client = connect(private_redis.url, socket_timeout=2)
    pool = client.connection_pool
    connection = pool.get_connection()
    connection.send_command("CLIENT", "ID")
    killed = connection.read_response()
    pool.release(connection)
    assert redis.Redis.from_url(private_redis.url).client_kill_filter(_id=killed) == 1
    again = pool.get_connection()
    assert again is connection
    again.send_command("CLIENT", "ID")
    assert again.read_response() != killed  # a new connection, before anything was sent
    pool.release(again)


def test_a_full_pool_waits_its_timeout_then_refuses(private_redis):
    client = redis.Redis(connection_pool=BlockingPool.from_url(
        private_redis.url, max_connections=1, timeout=0.05))
    pool = client.connection_pool
    held = pool.get_connection()
    with pytest.raises(redis.ConnectionError, match="No connection available"):
        pool.get_connection()
    pool.release(held)
    assert pool.get_connection() is held


def test_a_forked_process_starts_with_connections_of_its_own(private_redis):
    client = connect(private_redis.url, socket_timeout=2)
    pool = client.connection_pool
    parent = pool.get_connection()
    pool.release(parent)
    pool.pid = -1  # as a child process sees its parent's pool
    child = pool.get_connection()
    assert child is not parent and child.pid == pool.pid
    pool.release(child)
    assert send(client, [("PING",)]) == [b"PONG"]

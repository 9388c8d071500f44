"""REDIS_URL names one server, a Sentinel-watched master or a Cluster; nothing connects yet."""

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from app.cache.topology import FollowingPool, connect, is_cluster
from app.config import ConfigError


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_database():
    client = connect("redis+sentinel://:secret@10.0.0.1:26379,[::1]:26380/mymaster/2",
                     socket_timeout=0.5)
    pool = client.connection_pool
    assert isinstance(pool, FollowingPool) and isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "secret"
    sentinels = [(s.connection_pool.connection_kwargs["host"],
                  s.connection_pool.connection_kwargs["port"])
                 for s in pool.sentinel_manager.sentinels]
    assert sentinels == [("10.0.0.1", 26379), ("::1", 26380)]
    assert not is_cluster(client)


def test_a_sentinel_url_without_a_master_name_is_refused_with_an_example():
    with pytest.raises(ConfigError, match="master's name"):
        connect("redis+sentinel://10.0.0.1:26379", socket_timeout=0.5)


def test_a_node_without_a_port_is_refused():
    with pytest.raises(ConfigError, match="host:port"):
        connect("redis+sentinel://10.0.0.1/mymaster", socket_timeout=0.5)


def test_a_plain_url_is_one_server_with_a_bounded_blocking_pool():
    client = connect("redis://127.0.0.1:1/0", socket_timeout=0.5, max_connections=7)
    assert isinstance(client.connection_pool, redis.BlockingConnectionPool)
    assert client.connection_pool.max_connections == 7
    assert connect(None, socket_timeout=0.5) is None

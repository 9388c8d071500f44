"""Scripts registered once per client survive a server that forgot them (NOSCRIPT)."""

from app.cache import RedisConnection, connect
from app.cache.slots import KeySlots


def test_a_store_runs_its_script_again_after_the_server_flushed_its_scripts(private_redis):
    connection = RedisConnection(connect(private_redis.url, socket_timeout=2), "rgtest:lua:")
    slots = KeySlots(connection)
    assert slots.acquire("rpm:k1", "s1", 2, 60_000).admitted
    connection.client.script_flush()  # a restarted or failed-over server has no scripts
    assert slots.acquire("rpm:k1", "s2", 2, 60_000).admitted
    refused = slots.acquire("rpm:k1", "s3", 2, 60_000)
    assert not refused.admitted and 0 < refused.retry_after_ms <= 60_000
    assert connection.client.zcard("rgtest:lua:slots:rpm:k1") == 2


def test_a_store_answers_unavailable_while_redis_is_down(private_redis):
    connection = RedisConnection(connect(private_redis.url, socket_timeout=1), "rgtest:lua:")
    slots = KeySlots(connection)
    private_redis.stop()
    assert slots.acquire("rpm:k1", "s1", 2, 60_000) is None
    assert not connection.available()  # the back-off: the next call does not wait on Redis

"""Commands riding the request's next Redis round trip (app/cache/ride_along.py): sent once,
with the next pipeline or at the block's end, and failing open as they did on their own."""

from app.cache import RedisConnection, connect, riding_along
from app.cache.ride_along import ride
from app.cache.slots import KeySlots, SlotAnswer
from app.cache.sticky import StickySessionStore
from app.cache.usage_stream import UsageStream
from tests.support.servers import free_port


def _slots(connection: RedisConnection) -> KeySlots:
    slots = KeySlots(connection)
    assert slots.acquire("concurrency:k1", "s1", 5, 60_000).admitted
    return slots


def test_a_release_rides_the_next_pipeline_or_goes_when_the_block_ends(private_redis):
    connection = RedisConnection(connect(private_redis.url, socket_timeout=2), "rgtest:ride:")
    slots, bucket = _slots(connection), "rgtest:ride:slots:concurrency:k1"
    with riding_along():
        slots.release("concurrency:k1", "s1")
        assert connection.client.zcard(bucket) == 1  # held, not sent
        UsageStream(connection).add({"record": "r1"})
        assert connection.client.zcard(bucket) == 0  # gone with the XADD
    assert connection.client.xlen("rgtest:ride:usage:stream") == 1
    assert slots.acquire("concurrency:k1", "s2", 5, 60_000).admitted
    with riding_along():
        slots.release("concurrency:k1", "s2")  # nothing else goes to Redis in the block
    assert connection.client.zcard(bucket) == 0


def test_a_rider_the_server_refuses_fails_neither_the_pipeline_nor_the_block(private_redis):
    connection = RedisConnection(connect(private_redis.url, socket_timeout=2), "rgtest:ride:")
    connection.client.set("rgtest:ride:not-a-zset", "x")
    with riding_along():
        assert ride(connection, "ZREM", "rgtest:ride:not-a-zset", "s1")  # WRONGTYPE
        entry_id, replicated = UsageStream(connection).add({"record": "r1"})
    assert replicated and entry_id
    assert connection.available()


def test_the_sticky_read_rides_a_script_call_even_on_a_server_that_forgot_the_script(
        private_redis):
    connection = RedisConnection(connect(private_redis.url, socket_timeout=2), "rgtest:ride:")
    sticky, slots = StickySessionStore(connection, 60), _slots(connection)
    assert sticky.bind("k1", "conversation", "account-a")
    connection.client.script_flush()  # a restarted or failed-over server (NOSCRIPT)
    found: list = []
    with riding_along():
        assert sticky.bound_riding("k1", "conversation", found.append)
        assert slots.acquire_all([("concurrency:k1", "s2", 5, 60_000)]) == (-1, SlotAnswer(True))
        assert found == ["account-a"]  # came back with the script's call
    assert connection.client.zcard("rgtest:ride:slots:concurrency:k1") == 2


def test_a_sticky_read_whose_round_trip_fails_reads_as_unbound_and_backs_off():
    connection = RedisConnection(connect(f"redis://127.0.0.1:{free_port()}/0",
                                         socket_timeout=1), "rgtest:ride:")
    found: list = []
    with riding_along():
        assert StickySessionStore(connection, 60).bound_riding("k1", "conversation",
                                                               found.append)
    assert found == [None]  # as `bound` answers when Redis fails: schedule afresh
    assert not connection.available()

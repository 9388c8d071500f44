"""Redis beyond one server: a master that restarts or fails over (Sentinel) never lets a counter
admit past its limit, the app follows a new master within seconds, and every script and
transaction works on a three-master Redis Cluster."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from redis.cluster import ClusterPipeline

from app import services_of
from app.cache import read_ahead, read_through, reading_ahead, slot_tag
from app.errors import LimitExceeded
from app.services.quota.reservations import Reservation
from app.services.usage.service import UsageRecord
from scripts.chaos.redis_topology import ClusterRedis, SentinelRedis
from tests.integration.test_quota_authority import MODEL, in_total, setup
from tests.support.apps import make_app
from tests.support.quota import all_at_once


def store_use(services, counter, reservation: Reservation) -> None:
    """What the drain does for a chat-fast answer: the unit in the database, then the hold
    settled in Redis with the value the database returned."""
    with services.uow() as uow:
        value = uow.usage_counters.add(counter, 1)
        uow.commit()
    services.quota.settle_hold(counter, reservation.id, value)


def holds_until_refused(quota, subject) -> int:
    for granted in range(50):
        try:
            quota.hold(subject, MODEL)
        except LimitExceeded:
            return granted
    raise AssertionError("never refused")


def test_a_counter_older_than_a_redis_restart_is_read_from_the_database_before_admitting(
        postgres_url, private_redis, tmp_path):
    application = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:restart:")
    services = services_of(application)
    try:
        quota, subject, counter = setup(application, 5, "restart")
        assert quota.used(counter) == 0
        key = quota.mirror.key(counter)
        client = services.cache.client
        before = client.dump(key)  # what the append-only file still held at the crash
        for reservation in [quota.hold(subject, MODEL) for _ in range(3)]:
            store_use(services, counter, reservation)
        assert quota._stored(counter).used == 3
        private_redis.stop()
        private_redis.start()  # a new run id; the last writes did not survive
        client.restore(key, 0, before)
        services.cache.redis.retry_now()
        assert holds_until_refused(quota, subject) == 2
        assert in_total(quota, counter) == 5
    finally:
        services.engine.dispose()


@pytest.fixture(scope="module")
def sentinel_redis():
    topology = SentinelRedis().start()
    yield topology
    topology.stop()


def test_after_a_sentinel_failover_the_app_follows_the_new_master_and_admits_only_the_limit(
        postgres_url, sentinel_redis, tmp_path):
    application = make_app(tmp_path, postgres_url, sentinel_redis.url, "rgtest:failover:",
                           redis_socket_timeout=0.5)
    services = services_of(application)
    try:
        quota, subject, counter = setup(application, 8, "failover")
        for reservation in [quota.hold(subject, MODEL) for _ in range(2)]:
            store_use(services, counter, reservation)
        key = quota.mirror.key(counter)
        old, new = sentinel_redis.fail_over()
        replica = sentinel_redis.node(new).client()
        # The promoted replica missed the last settlements: its counter says fewer were used.
        replica.hset(key, mapping={"n": 0, "v": 0})
        started = time.monotonic()
        while services.cache.client.connection_pool.master_address != ("127.0.0.1", new):
            services.cache.client.ping()
            assert time.monotonic() - started < 5, "still on the old master"
            time.sleep(0.05)
        services.cache.redis.retry_now()
        results = all_at_once(20, lambda i: quota.hold(subject, MODEL))
        granted = [r for r in results if isinstance(r, Reservation)]
        assert len(granted) == 6, results
        assert all(r.held_on is not None for r in granted)  # decided by the new master
        assert in_total(quota, counter) == 8
        assert int(replica.hget(key, "n")) == 2
    finally:
        services.engine.dispose()


@pytest.fixture(scope="module")
def redis_cluster():
    topology = ClusterRedis().start()
    yield topology
    topology.stop()


@pytest.fixture
def cluster_app(postgres_url, redis_cluster, tmp_path):
    application = make_app(tmp_path, postgres_url, redis_cluster.url, "rgtest:cluster:")
    yield application
    services = services_of(application)
    keys = list(services.cache.client.scan_iter(match="rgtest:cluster:*", count=1000))
    if keys:
        services.cache.client.delete(*keys)
    services.engine.dispose()


def test_the_keys_of_each_script_and_transaction_share_one_hash_slot(cluster_app):
    services = services_of(cluster_app)
    client, cache = services.cache.client, services.cache
    for ident in ("abc", "", '[["a"],{}]', "x}y{z"):
        tagged = slot_tag(ident)
        names = [cache.key("c", "ns", "v1", tagged), cache.key("g", "ns", tagged),
                 cache.key("l", "ns", tagged)]
        assert len({client.keyslot(name) for name in names}) == 1, names
    sink_keys = services.monitoring.sink._query_keys + [services.monitoring.sink._text_key] \
        if hasattr(services.monitoring, "sink") else []
    assert len({client.keyslot(name) for name in sink_keys}) <= 1


def test_quota_holds_reservations_and_the_mirror_are_exact_on_a_cluster(cluster_app):
    quota, subject, counter = setup(cluster_app, 15, "cluster")
    take = (quota.reserve, quota.hold)
    results = all_at_once(40, lambda i: take[i % 2](subject, MODEL))
    granted = [r for r in results if isinstance(r, Reservation)]
    assert len(granted) == 15, [r for r in results if not isinstance(r, LimitExceeded)]
    assert all(r.held_on is not None for r in granted if r.id.startswith("h-"))
    assert in_total(quota, counter) == 15
    for reservation in granted:
        if reservation.held_on is None:
            quota.cancel(subject, reservation.id)
        else:
            quota.release(reservation)
    assert in_total(quota, counter) == 0
    quota.clock.now += timedelta(seconds=1)
    assert quota.verdict_for(subject, MODEL).usage.used == 0


def test_the_read_through_cache_and_the_usage_queue_work_on_a_cluster(cluster_app):
    services = services_of(cluster_app)
    key = services.keys.create({"name": "clustered"})
    first = services.keys.authenticate(key.api_key)
    value_key = services.keys.validate.value_key(services.cache, key.hashed_key)
    assert services.cache.client.exists(value_key) == 1
    services.keys.update(key.id, {"name": "renamed"})
    assert services.cache.client.exists(value_key) == 0  # invalidated: one slot, one MULTI
    assert services.keys.authenticate(key.api_key)["id"] == first["id"]
    queue = services.usage_queue
    for n in range(3):
        queue.enqueue(UsageRecord(api_key_id=key.id, model="m", input_tokens=n + 1,
                                  request_id=f"cluster-{n}"))
    result = queue.drain_once("cluster-worker")
    assert (result.recorded, queue.pending()) == (3, 0)
    assert services.keys.get(key.id).total_tokens == 6


def _write_behind(services, tag: str) -> str:
    """Write one chat-fast-style usage record (queued unless the queue refuses); its key's id."""
    key = services.keys.create({"name": tag})
    services.usage_writer.record(UsageRecord(api_key_id=key.id, model="m", input_tokens=3,
                                             request_id=f"relay-{tag}"),
                                 verify_key=False, behind=True)
    return key.id


def _stored(services, key_id: str) -> int:
    with services.uow() as uow:
        return len(uow.usage_events.list_for_key(key_id))


def test_a_usage_record_no_replica_confirms_is_stored_at_once_not_trusted_to_the_master(
        postgres_url, private_redis, tmp_path):
    application = make_app(tmp_path, postgres_url, private_redis.url, "rgtest:wait:",
                           usage_queue_replicas=1, usage_queue_replica_wait_ms=20)
    services = services_of(application)
    try:
        key_id = _write_behind(services, "unreplicated")
        assert _stored(services, key_id) == 1  # a failover could have lost it: stored now
        drained = services.usage_queue.drain_once("after")
        assert (drained.recorded, drained.duplicates) == (0, 1)  # the master's copy
        assert _stored(services, key_id) == 1
    finally:
        services.engine.dispose()


def test_behind_sentinel_a_usage_record_a_replica_confirms_is_queued(
        postgres_url, sentinel_redis, tmp_path):
    application = make_app(tmp_path, postgres_url, sentinel_redis.url, "rgtest:replicated:",
                           redis_socket_timeout=2.0, usage_queue_replica_wait_ms=1500)
    services = services_of(application)
    try:
        assert services.usage_queue.replicas == 1  # the default behind Sentinel
        started = time.monotonic()  # an earlier test's failover may leave the replica syncing
        while services.cache.client.execute_command("WAIT", 1, 200) < 1:
            assert time.monotonic() - started < 30, "the replica never came back"
        key_id = _write_behind(services, "replicated")
        assert _stored(services, key_id) == 0  # queued: the replica holds it too
        assert services.usage_queue.drain_once("sentinel-drain").recorded == 1
        assert _stored(services, key_id) == 1
    finally:
        services.engine.dispose()


class _Named:
    def __init__(self, cache) -> None:
        self.cache, self.cache_ttl = cache, 60

    @read_through("rt-cluster", key=lambda ident: ident)
    def read(self, ident: str) -> str:
        return f"value of {ident}"


def test_on_a_cluster_the_read_ahead_sends_one_mget_per_hash_slot(cluster_app, monkeypatch):
    services = services_of(cluster_app)
    service, idents = _Named(services.cache), ["a", "b", "c", "d", "e", "f"]
    for ident in idents[:4]:
        assert service.read(ident) == f"value of {ident}"  # filled; e and f are not
    sent: list = []
    queue = ClusterPipeline.execute_command
    monkeypatch.setattr(ClusterPipeline, "execute_command",
                        lambda pipe, *command, **options: (sent.append(command),
                                                           queue(pipe, *command, **options))[1])
    reads = [(_Named.read, (ident,)) for ident in idents + ["a"]]
    ahead = read_ahead(services.cache, reads)
    client = services.cache.client
    slots = {client.keyslot(_Named.read.value_key(services.cache, ident)) for ident in idents}
    # the cluster pipeline sends each node its MGETs; one per slot, value and generation in it
    assert len(sent) == len(slots) == 6 and all(command[0] == "MGET" for command in sent)
    assert all(len({client.keyslot(name) for name in command[1:]}) == 1 for command in sent)
    for ident in idents:
        value, _ = ahead.found[_Named.read.value_key(services.cache, ident)]
        assert (value is not None) == (ident in idents[:4])
    with reading_ahead(ahead):
        assert [service.read(ident) for ident in idents] == [f"value of {i}" for i in idents]

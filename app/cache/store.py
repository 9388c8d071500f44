"""The read-through cache's Redis operations, over the shared connection (fails open)."""

from __future__ import annotations

import random
from typing import Protocol

from app.cache.connection import RedisConnection
from app.cache.ride_along import ride_together
from app.cache.round_trip import send

_GENERATION_SECONDS = 7 * 24 * 3600


class CachePolicy(Protocol):
    """Asked on every cached read and invalidation (the storage strategies implement it)."""

    def reads_cache(self, namespace: str) -> bool: ...

    def cache_ttl(self, namespace: str) -> int | None: ...

    def invalidates(self, namespace: str) -> bool: ...


class CacheStore:
    """Namespaced Redis access for the read-through cache; `redis.client` None: caching off."""

    def __init__(self, redis_: RedisConnection, *, policy: CachePolicy | None = None):
        self.redis = redis_
        self.keys = redis_.keys
        self.policy = policy  # None: every namespace read through with the service's TTL
        self.hits = 0
        self.misses = 0

    # The connection's, for the services that still reach it through the cache.
    @property
    def client(self):
        return self.redis.client

    @property
    def prefix(self) -> str:
        return self.redis.prefix

    @property
    def enabled(self) -> bool:
        return self.redis.enabled

    @property
    def clustered(self) -> bool:
        return self.redis.clustered

    def available(self) -> bool:
        return self.redis.available()

    def failed(self, error: Exception) -> None:
        self.redis.failed(error)

    def key(self, *parts: str) -> str:
        return self.redis.key(*parts)

    # The read-through operations; these raise redis errors (the decorator fails open).
    def read(self, value_key: str, generation_key: str) -> tuple[bytes | None, bytes | None]:
        value, generation = self.client.mget(value_key, generation_key)
        return value, generation

    def fill(self, value_key: str, generation_key: str, generation: bytes | None, payload: str,
             ttl_ms: int) -> bool:
        expected = (generation or b"0").decode()
        return bool(self.redis.scripts.run("read_through_fill", [value_key, generation_key],
                                           [expected, payload, ttl_ms]))

    def invalidate(self, value_key: str, generation_key: str, *retired: str) -> None:
        """Drop the value (and `retired`, its copies in formats older instances still read)
        and move the generation, in one transaction."""
        self.invalidate_many([(value_key, generation_key, retired)])

    def invalidate_many(self, entries: list[tuple[str, str, tuple[str, ...]]]) -> None:
        """`invalidate` each (value, generation, retired) entry, in one round trip: one
        transaction of them all (on a Cluster, where a transaction cannot span hash slots, one
        per entry, whose keys share one). Inside `riding_along()` (ride_along.py) it rides the
        block's next round trip, or goes when the block ends.

        The transaction keeps each entry's two steps together: a reader of the generation
        between them could otherwise tag the old value with the new generation (a copy kept
        in process), or fill what it read before the commit after the value was dropped."""
        if not entries:
            return
        if self.clustered:
            for value_key, generation_key, retired in entries:
                pipe = self.client.pipeline(transaction=True)
                pipe.incr(generation_key)
                pipe.expire(generation_key, _GENERATION_SECONDS)
                pipe.delete(value_key, *retired)
                pipe.execute()
            return
        commands: list[tuple] = [("MULTI",)]
        for value_key, generation_key, retired in entries:
            commands += [("INCR", generation_key), ("EXPIRE", generation_key, _GENERATION_SECONDS),
                         ("DEL", value_key, *retired)]
        commands.append(("EXEC",))
        if ride_together(self.redis, commands):
            return
        answers = send(self.client, commands)
        # A command refused when queued fails the EXEC; one that failed when run is in its list.
        for answer in [*answers[:-1], *(answers[-1] if isinstance(answers[-1], list) else
                                        [answers[-1]])]:
            if isinstance(answer, Exception):
                raise answer

    def generation(self, generation_key: str) -> bytes:
        """The entry's generation, for tagging a copy kept in process. One that is missing (never
        invalidated, expired, or lost with a Redis restart) is started at a random number, so
        it cannot come back to a value an older copy was tagged with."""
        found = self.client.get(generation_key)
        if found is not None:
            return found
        self.client.set(generation_key, random.getrandbits(48), nx=True,
                        ex=_GENERATION_SECONDS)
        return self.client.get(generation_key) or b"0"

    def try_lock(self, lock_key: str, ttl_ms: int) -> bool:
        return bool(self.client.set(lock_key, b"1", nx=True, px=ttl_ms))

    def unlock(self, lock_key: str) -> None:
        self.client.delete(lock_key)

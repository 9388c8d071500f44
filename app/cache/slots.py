"""Slots: at most N live holders in a bucket (a sorted set), each freed by release or expiry.

Two key patterns use it: a key's request slots (keys.slot_bucket: its concurrency, and its
requests per minute as a sliding-window log) and an upstream account's concurrency leases
(keys.account_leases). Every call fails open; the services (KeyLimits' SlotLimiter, the
scheduler's LeaseManager) then ask the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.cache.connection import RedisStore, fail_open
from app.cache.ride_along import ride, run_script


@dataclass(frozen=True)
class SlotAnswer:
    admitted: bool
    retry_after_ms: int = 0  # when refused: until the first live slot expires


class _SlotStore(RedisStore):
    def _key(self, bucket: str) -> str:
        raise NotImplementedError

    # Tried even in the connection's back-off (after a slow call elsewhere Redis may well
    # answer): slots other instances hold live only here, so the database alone would admit
    # past them. Only an error on the call itself hands the slot to the database.
    @fail_open(None, during_backoff=True)
    def acquire(self, bucket: str, slot_id: str, limit: int, ttl_ms: int) -> SlotAnswer | None:
        """A slot in `bucket` if fewer than `limit` are live; None when Redis is unavailable."""
        answer = self.redis.scripts.run("slot_acquire", [self._key(bucket)],
                                        [slot_id, limit, ttl_ms])
        return SlotAnswer(True) if answer[0] == 1 else SlotAnswer(False, int(answer[1]))

    @fail_open(None, during_backoff=True)  # as `acquire`
    def acquire_all(self, wanted: list[tuple[str, str, int, int]]
                    ) -> tuple[int, SlotAnswer] | None:
        """A slot in each of `wanted`'s buckets ((bucket, slot id, limit, ttl ms), checked in
        order), all or none, in one call: (-1, admitted), or (index of the first full bucket,
        its refusal). None when Redis is unavailable, or on a Cluster, where the buckets need
        not share a hash slot (the caller then takes them one by one). Commands riding along
        (app/cache/ride_along.py) go in the same round trip."""
        if self.redis.clustered:
            return None
        args: list = []
        for _, slot_id, limit, ttl_ms in wanted:
            args += [slot_id, limit, ttl_ms]
        answer = run_script(self.redis, "slot_acquire_all",
                            [self._key(bucket) for bucket, *_ in wanted], args)
        if answer[0] == 1:
            return -1, SlotAnswer(True)
        return int(answer[1]) - 1, SlotAnswer(False, int(answer[2]))

    @fail_open(False, during_backoff=True)
    def renew(self, bucket: str, slot_id: str, ttl_ms: int) -> bool:
        """Another `ttl_ms` for a live slot; False when it had expired or Redis failed."""
        return bool(self.redis.scripts.run("slot_renew", [self._key(bucket)], [slot_id, ttl_ms]))

    @fail_open(None, during_backoff=True)
    def release(self, bucket: str, slot_id: str) -> None:
        """Free the slot (on a Redis error its own expiry does); inside `riding_along()`, with
        the block's next round trip."""
        if not ride(self.redis, "ZREM", self._key(bucket), slot_id):
            self.client.zrem(self._key(bucket), slot_id)


class KeySlots(_SlotStore):
    """An API key's buckets (`rpm:<key id>`, `concurrency:<key id>`). A quota hold may take
    them in its own script call (holds.py, `take(slots=...)`)."""

    def carries_with_holds(self) -> bool:
        """May the quota hold's script take these buckets' slots (Redis usable, no Cluster)?"""
        return self.available() and not self.redis.clustered

    def _key(self, bucket: str) -> str:
        return self.redis.keys.slot_bucket(bucket)


class AccountLeaseSlots(_SlotStore):
    """An upstream account's concurrency leases; the bucket is the account's id."""

    def _key(self, bucket: str) -> str:
        return self.redis.keys.account_leases(bucket)

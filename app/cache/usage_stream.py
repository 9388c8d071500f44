"""The usage stream in Redis: its consumer group and what it says about itself.

Keys: keys.usage_stream (the queued records), keys.usage_dead_letters (records the database
refused for good), keys.usage_drains (each drain worker's last heartbeat).
These calls raise CacheError, not fail open: the usage queue (a service) decides what a failure
means (store the record at once, or retry the drain later).
"""

from __future__ import annotations

import redis

from app.cache.codec import as_text
from app.cache.connection import CacheError, Connectable, RedisStore
from app.cache.ride_along import board, commands, landed, stranded
from app.cache.round_trip import send

GROUP = "usage-writers"


class GroupLost(CacheError):
    """The consumer group is gone (NOGROUP: Redis restarted empty or was flushed)."""


class UsageStream(RedisStore):
    def __init__(self, connection: Connectable):
        super().__init__(connection)
        self.stream = self.redis.keys.usage_stream()
        self.dead_letters = self.redis.keys.usage_dead_letters()
        self.drains = self.redis.keys.usage_drains()

    def add(self, fields: dict, *, replicas: int = 0, wait_ms: int = 0) -> tuple[str, bool]:
        """Append an entry; (its id, whether `replicas` replicas confirmed it within `wait_ms`).

        With `replicas`, XADD and WAIT go in one round trip: Redis replicates asynchronously, so
        an entry only the master holds is lost if a failover promotes a replica before it
        arrives there.
        Writes riding along (app/cache/ride_along.py: the request's slot releases) go in the
        same round trip.
        """
        riders = board(self.redis)
        sent = [*commands(riders),
                ("XADD", self.stream, "*", *[part for pair in fields.items() for part in pair])]
        if replicas > 0:
            sent.append(("WAIT", replicas, wait_ms))
        try:
            answers = landed(send(self.client, sent), riders)
        except redis.RedisError:
            stranded(self.redis, riders)
            raise
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        if replicas <= 0:
            return as_text(answers[0]), True
        entry_id, confirmed = answers
        return as_text(entry_id), int(confirmed) >= replicas

    def create_group(self) -> bool:
        """Create the group reading from the stream's start; False when it already exists."""
        try:
            self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
            return False
        return True

    def take(self, consumer: str, *, min_idle_ms: int, count: int, block_ms: int | None,
             beat_at: float | None = None) -> list:
        """Entries left pending by dead consumers (idle `min_idle_ms`), then new ones, asked
        in one round trip (with the consumer's heartbeat at `beat_at`, if given). Raises
        GroupLost when the group is gone."""
        pipe = self.client.pipeline(transaction=False)
        if beat_at is not None:
            self._beat(pipe, consumer, beat_at)
        pipe.xautoclaim(self.stream, GROUP, consumer, min_idle_time=min_idle_ms,
                        start_id="0-0", count=count)
        pipe.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        try:
            *_, (_, claimed, *_), fresh = pipe.execute()
        except redis.ResponseError as error:
            if "NOGROUP" in str(error):
                raise GroupLost(str(error)) from error
            raise
        # XREADGROUP answers RESP2's [[stream, [(id, fields), ...]]], or None when nothing
        # came in `block_ms`.
        return list(claimed) + [entry for _, batch in fresh or [] for entry in batch]

    def acknowledge(self, entry_ids: list) -> None:
        """Acknowledge and delete stored entries, so the stream holds only what is unstored."""
        if not entry_ids:
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.stream, GROUP, *entry_ids)
        pipe.xdel(self.stream, *entry_ids)
        pipe.execute()

    def dead_letter(self, fields: dict) -> None:
        self.client.xadd(self.dead_letters, fields)

    def pending(self) -> int:
        return int(self.client.xpending(self.stream, GROUP)["pending"])

    def backlog(self, now: float) -> dict:
        """{length, oldestAgeSeconds}: entries not yet stored, and how long the oldest waited
        (from its id, which is the millisecond it was added on the Redis server's clock)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.xlen(self.stream)
        pipe.xrange(self.stream, count=1)
        length, first = pipe.execute()
        age = None
        if first:
            added_ms = int(first[0][0].split(b"-")[0])
            age = max(0.0, round(now - added_ms / 1000, 3))
        return {"length": int(length), "oldestAgeSeconds": age}

    def group_backlog(self, group: str) -> dict:
        """{lag, pending, deadLetters} of the consumer group (lag None where Redis cannot tell)."""
        found: dict = next((info for info in self.client.xinfo_groups(self.stream)
                            if info["name"] in (group, group.encode())), {})
        return {"lag": found.get("lag"), "pending": int(found.get("pending", 0)),
                "deadLetters": int(self.client.xlen(self.dead_letters))}

    def beat(self, consumer: str, now: float) -> None:
        pipe = self.client.pipeline(transaction=False)
        self._beat(pipe, consumer, now)
        pipe.execute()

    def _beat(self, pipe, consumer: str, now: float) -> None:
        pipe.zadd(self.drains, {consumer: now})
        pipe.zremrangebyscore(self.drains, "-inf", now - 24 * 3600)

    def stop_beating(self, consumer: str) -> None:
        self.client.zrem(self.drains, consumer)

    def drains_running(self, now: float, within_seconds: float) -> int:
        """Drain workers that beat within the last `within_seconds`."""
        return int(self.client.zcount(self.drains, now - within_seconds, "+inf"))

    def persistence(self) -> dict:
        """{aof, rdb}: whether the server appends to a log, or snapshots on a schedule."""
        info = self.client.info("persistence")
        try:
            save = self.client.config_get("save").get("save", "")
        except redis.ResponseError:  # CONFIG is often disabled on managed servers
            save = None
        return {"aof": bool(int(info.get("aof_enabled", 0))),
                "rdb": bool(save) if save is not None else None}

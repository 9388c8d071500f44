"""Quota holds: the one admission authority of a counter while Redis is usable.

Every unit taken within the limit, by any route on any instance, is first a hold taken here in
one script, against n + p: `n` the database's count mirrored (counters.py), `p` the units held
and not yet in the database. The counter's hash keeps a field `h:<id>` per hold whose value is
its expiry (ms). Nobody adds to the database's count within the limit without a hold, so n + p
never misses a granted unit, and two takes can never both have the last one.

A hold ends in one of two ways, each one script:
- settled: its unit was added to the database's counter (a reservation row written by
  `reserve`, or chat-fast's usage record, app/services/usage/settlement.py); the (used, version) the
  database returned is put if newer and the hold leaves `p` in the same step, so the count never
  dips. Between the database's commit and this script a reader may count the unit twice: a
  brief over-count that can refuse early, never admit past the limit;
- released: nothing was used; the unit leaves `p`.
Deleting `h:<id>` decides whether `p` moves, so a hold settled twice (a redelivered queue
entry) moves it once, and settling answers whether the hold was still there: a reservation
whose hold expired (or was lost with its key) before its row was written may see its unit
granted again, so it cancels that row.

A hold whose request died is given back once expired, by the next take that would otherwise be
refused or by a check about to refuse. The sweep that gives it back marks the counter stale:
an expired hold whose settling was lost (Redis failed, the process died) may already be counted
by the database though not by `n`, so the counter is read from the database again (a fill
carrying the mark's token) before the next take. Units past the limit (a premium user's
credits) are never held: they are spent only in the database.

A counter filled on another Redis server (by its run id: a replica promoted by a failover, or a
server restarted from its append-only file) is marked stale by the next take: that server may
have lost the last holds and settlements, so the database is read again first. What it cannot
bring back are chat-fast holds the old server took and never passed on (in the replication lag
before a failover, or before the process asked the sentinels again): their requests go on and
store their records (so the database's counter counts them), but until then the counter may
admit that many units past the limit (docs/deploy.md).
Reservations are not exposed: their settle finds the hold gone and cancels their row.

A counter not mirrored yet, or marked stale, answers Missing: the caller reads the database and
takes again with that value as the fill, in the same script. Redis errors answer None: the
caller admits in the database alone. A take is tried even in the connection's back-off (which
any slow call starts): while Redis answers, its holds, which the database does not count, must
decide. A take names its hold, and one sent again (redis-py retries a script whose reply timed
out, though it may have run) is answered as taken without a second unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.cache.connection import Connectable, RedisStore, fail_open
from app.cache.counters import Counter, CountValue, Missing, counter_key
from app.cache.ride_along import run_script
from app.cache.round_trip import SERVER_ID


@dataclass(frozen=True)
class Taken:
    granted: bool
    used: int  # the count after the take (granted) or the count that refused it
    # The slots asked for with the take were taken with the hold (never without it).
    with_slots: bool = False


@dataclass(frozen=True)
class SlotsFull:
    """A take that carried slots found bucket `index` (0-based) full: nothing was taken."""

    index: int
    retry_after_ms: int


# Holds ended by one quota_settle_many call at most (a Lua stack holds some thousands).
SETTLE_CHUNK = 500


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class QuotaHolds(RedisStore):
    def __init__(self, connection: Connectable, *, ttl_ms: int):
        super().__init__(connection)
        self.ttl_ms = ttl_ms

    def usable(self) -> bool:
        return self.available()

    def carries_slots(self) -> bool:
        """May a take carry a key's slots (`take(slots=...)`)? Not on a Cluster, where the
        counter and the key's buckets need not share a hash slot."""
        return not self.redis.clustered

    # Tried even in the connection's back-off (which any slow call starts): while Redis
    # answers, the holds it keeps decide, and the database alone cannot see them.
    @fail_open(None, during_backoff=True)
    def take(self, counter: Counter, hold_id: str, limit: int, *, expires_at: datetime,
             now: datetime, fill: tuple[CountValue, str] | None = None,
             slots: list[tuple[str, str, int, int]] | None = None
             ) -> Taken | Missing | SlotsFull | None:
        """Taken; Missing (read the database, then take again with `fill`: that value and the
        Missing's token); None when Redis is unavailable.

        `slots` ((bucket, slot id, limit, ttl ms), app/cache/slots.py's KeySlots buckets) are
        taken in the same script, all with the hold or none (SlotsFull when a bucket is full:
        checked before the counter); only where `carries_slots()`."""
        lifetime = max(self.ttl_ms, 2 * (_ms(expires_at) - _ms(now)))
        filled = ["", "", ""] if fill is None else [fill[0].used, fill[0].version, fill[1]]
        if slots and not self.carries_slots():
            slots = None  # the caller takes them on their own (`with_slots` tells it)
        keys, args = [counter_key(self.redis, counter)], [
            hold_id, limit, _ms(expires_at), _ms(now), lifetime, *filled, SERVER_ID]
        if slots:
            for bucket, slot_id, slot_limit, ttl_ms in slots:
                keys.append(self.redis.keys.slot_bucket(bucket))
                args += (slot_id, slot_limit, ttl_ms)
        # Commands riding along (app/cache/ride_along.py) go in the same round trip.
        if slots:
            status, used, *held = run_script(self.redis, "quota_take_with_slots", keys, args)
        else:
            status, used, *held = run_script(self.redis, "quota_take", keys, args)
        if status == -1:
            return Missing(used.decode() if isinstance(used, bytes) else str(used), int(held[0]))
        if status == -2:
            return SlotsFull(int(used) - 1, int(held[0]))
        return Taken(status == 1, int(used), with_slots=bool(slots) and status == 1)

    def settle(self, counter: Counter, hold_id: str, value: CountValue | None) -> bool:
        """The hold's use is stored (`value`: the counter the database returned), or given
        back (None). True if this call ended the hold. Raises CacheError."""
        used, version = ("", "") if value is None else (value.used, value.version)
        # A synchronous store's settle carries the request's held slot releases (ride_along.py).
        return bool(run_script(self.redis, "quota_settle", [counter_key(self.redis, counter)],
                               [hold_id, used, version, self.ttl_ms]))

    def settle_many(self, holds: list[tuple[Counter, str, CountValue | None]]) -> list[bool]:
        """`settle` for many (counter, hold id, value) in one round trip: one script call per
        counter (quota_settle_many.lua, up to SETTLE_CHUNK holds a call), which puts the newest
        value of its holds once and ends each. Raises CacheError."""
        on: dict[str, list[int]] = {}
        for index, (counter, _, _) in enumerate(holds):
            on.setdefault(counter_key(self.redis, counter), []).append(index)
        parts, calls = [], []
        for key, indexes in on.items():
            for start in range(0, len(indexes), SETTLE_CHUNK):
                part = indexes[start:start + SETTLE_CHUNK]
                newest = max((value for _, _, value in (holds[i] for i in part)
                              if value is not None), key=lambda value: value.version,
                             default=None)
                stored = ("", "") if newest is None else (newest.used, newest.version)
                parts.append(part)
                calls.append(([key], [*stored, self.ttl_ms, *(holds[i][1] for i in part)]))
        ended = [False] * len(holds)
        for part, answer in zip(parts, self.redis.scripts.run_many("quota_settle_many", calls),
                                strict=True):
            for index, one in zip(part, answer, strict=True):
                ended[index] = bool(one)
        return ended

    @fail_open(None, during_backoff=True)
    def try_settle(self, counter: Counter, hold_id: str, value: CountValue | None
                   ) -> bool | None:
        """`settle`, answering None on a Redis error (the hold then counts its unit until it
        expires, and the sweep that gives it back has the counter read from the database)."""
        return self.settle(counter, hold_id, value)

    @fail_open(0)
    def give_back_expired(self, counter: Counter, now: datetime) -> int:
        return int(self.redis.scripts.run("quota_give_back", [counter_key(self.redis, counter)],
                                          [_ms(now)]))

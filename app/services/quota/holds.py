"""Quota holds: the one admission authority of a counter while Redis is usable.

Every unit taken within the limit, by any route on any instance, is first a hold taken here in
one script, against n + p: `n` the database's count mirrored (mirror.py), `p` the units held and
not yet in the database. The counter's hash keeps a field `h:<id>` per hold whose value is its
expiry (ms). Nobody adds to the database's count within the limit without a hold, so n + p never
misses a granted unit, and two takes can never both have the last one.

A hold ends in one of two ways, each one script:
- settled: its unit was added to the database's counter (a reservation row written by
  `reserve`, or chat-fast's usage record, settlement.py); the (used, version) the database
  returned is put if newer and the hold leaves `p` in the same step, so the count never dips.
  Between the database's commit and this script a reader may count the unit twice: a brief
  over-count that can refuse early, never admit past the limit;
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
caller admits in the database alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from app.cache import CacheStore
from app.db.repositories.quota import CounterKey, CounterValue
from app.services.quota.mirror import FILL, MARK_STALE, Missing

_SWEEP = MARK_STALE + """
local function sweep(key, now)
  local fields = redis.call('HGETALL', key)
  local freed = 0
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'h:' and tonumber(fields[i + 1]) <= now then
      redis.call('HDEL', key, fields[i])
      freed = freed + 1
    end
  end
  if freed > 0 then
    redis.call('HINCRBY', key, 'p', -freed)
    mark_stale(key)
  end
  return freed
end
"""

# KEYS[1] the counter; ARGV: hold id, limit, expires (ms), now (ms), minimum TTL (ms), then the
# fill (used, version, token; used '' for none). Answers {1, count} taken, {0, count} refused,
# {-1, token, held} missing or stale: read the database and take again with it as the fill.
_TAKE = _SWEEP + FILL + """
local key = KEYS[1]
local function missing()
  return {-1, redis.call('HGET', key, 's') or '', tonumber(redis.call('HGET', key, 'p') or '0')}
end
if not same_server(key) then
  mark_stale(key)
  redis.call('HSET', key, 'r', server_id())
end
if ARGV[6] ~= '' and not fill(key, ARGV[6], ARGV[7], ARGV[8], ARGV[5]) then return missing() end
if redis.call('HEXISTS', key, 'v') == 0 or redis.call('HEXISTS', key, 's') == 1 then
  return missing()
end
local n = tonumber(redis.call('HGET', key, 'n'))
local p = tonumber(redis.call('HGET', key, 'p') or '0')
local limit = tonumber(ARGV[2])
if n + p >= limit then
  if sweep(key, tonumber(ARGV[4])) > 0 then return missing() end
  return {0, n + p}
end
redis.call('HSET', key, 'h:' .. ARGV[1], ARGV[3])
redis.call('HINCRBY', key, 'p', 1)
if redis.call('PTTL', key) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', key, ARGV[5])
end
return {1, n + p + 1}
"""

# KEYS[1] the counter; ARGV: hold id, used ('' when nothing was stored), version, TTL (ms).
_SETTLE = """
if ARGV[2] ~= '' then
  local held = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
  if tonumber(ARGV[3]) > held then
    redis.call('HSET', KEYS[1], 'n', ARGV[2], 'v', ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
  end
end
if redis.call('HDEL', KEYS[1], 'h:' .. ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'p', -1)
  return 1
end
return 0
"""

# KEYS[1] the counter; ARGV: now (ms). Gives back expired holds; answers how many.
_GIVE_BACK = _SWEEP + "return sweep(KEYS[1], tonumber(ARGV[1]))"


@dataclass(frozen=True)
class Taken:
    granted: bool
    used: int  # the count after the take (granted) or the count that refused it


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class QuotaHolds:
    def __init__(self, cache: CacheStore | None, *, key, ttl_ms: int) -> None:
        self.cache = cache
        self.key = key  # the mirror's key for a counter
        self.ttl_ms = ttl_ms
        client = cache.client if cache is not None and cache.enabled else None
        self._take = client.register_script(_TAKE) if client else None
        self._settle = client.register_script(_SETTLE) if client else None
        self._give_back = client.register_script(_GIVE_BACK) if client else None

    def usable(self) -> bool:
        return self._take is not None and self.cache.available()

    def take(self, counter: CounterKey, hold_id: str, limit: int, *, expires_at: datetime,
             now: datetime, fill: tuple[CounterValue, str] | None = None
             ) -> Taken | Missing | None:
        """Taken; Missing (read the database, then take again with `fill`: that value and the
        Missing's token); None when Redis is unavailable."""
        if not self.usable():
            return None
        lifetime = max(self.ttl_ms, 2 * (_ms(expires_at) - _ms(now)))
        filled = ["", "", ""] if fill is None else [fill[0].used, fill[0].version, fill[1]]
        try:
            status, used, *held = self._take(keys=[self.key(counter)], args=[
                hold_id, limit, _ms(expires_at), _ms(now), lifetime, *filled])
        except redis.RedisError as error:
            self.cache.failed(error)
            return None
        if status == -1:
            return Missing(used.decode() if isinstance(used, bytes) else str(used), int(held[0]))
        return Taken(status == 1, int(used))

    def settle(self, counter: CounterKey, hold_id: str, value: CounterValue | None) -> bool:
        """The hold's use is stored (`value`: the counter the database returned), or given
        back (None). True if this call ended the hold. Raises RedisError."""
        used, version = ("", "") if value is None else (value.used, value.version)
        return bool(self._settle(keys=[self.key(counter)],
                                 args=[hold_id, used, version, self.ttl_ms]))

    def try_settle(self, counter: CounterKey, hold_id: str, value: CounterValue | None
                   ) -> bool | None:
        """`settle`, answering None on a Redis error (the hold then counts its unit until it
        expires, and the sweep that gives it back has the counter read from the database)."""
        try:
            return self.settle(counter, hold_id, value)
        except redis.RedisError as error:
            self.cache.failed(error)
            return None

    def give_back_expired(self, counter: CounterKey, now: datetime) -> int:
        if not self.usable():
            return 0
        try:
            return int(self._give_back(keys=[self.key(counter)], args=[_ms(now)]))
        except redis.RedisError as error:
            self.cache.failed(error)
            return 0

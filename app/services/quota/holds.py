"""Quota holds: reservations taken in Redis alone, for the chat-fast route.

A hold is one unit taken against a mirrored counter (mirror.py) before the database knows of
it. Beside the database's {n: used, v: version}, the counter's hash keeps `p`, the units held,
and a field `h:<id>` per hold whose value is its expiry (ms). Every reader counts n + p, so a
check on any worker sees a hold at once, and taking one is a single script: no SQL.

A hold ends in one of two ways, each one script:
- settled: the use was stored, its counter unit added in the usage record's own transaction
  (settlement.py); the (used, version) the database returned is put if newer and the hold
  leaves `p` in the same step, so the count neither dips nor doubles;
- released: the request failed before its first byte; the unit leaves `p`.
Deleting `h:<id>` decides whether `p` moves, so a hold settled twice (a redelivered queue
entry) moves it once. A hold whose request died is given back once expired by the next take
that would otherwise be refused, as the database's reservations are. Between the database's
commit and the settling script a reader may count the unit twice: a brief over-count that can
refuse early, never admit past the limit.

A counter that is not mirrored yet answers MISSING: the caller fills it from the database and
tries once more. Redis errors answer None: the caller reserves in the database instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from app.cache import CacheStore
from app.db.repositories.quota import CounterKey, CounterValue

_SWEEP = """
local function sweep(key, now)
  local fields = redis.call('HGETALL', key)
  local freed = 0
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'h:' and tonumber(fields[i + 1]) <= now then
      redis.call('HDEL', key, fields[i])
      freed = freed + 1
    end
  end
  if freed > 0 then redis.call('HINCRBY', key, 'p', -freed) end
  return freed
end
"""

# KEYS[1] the counter; ARGV: hold id, limit, expires (ms), now (ms), minimum TTL (ms).
# Answers {1, count} taken, {0, count} refused, {-1, 0} not mirrored.
_TAKE = _SWEEP + """
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then return {-1, 0} end
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
local p = tonumber(redis.call('HGET', KEYS[1], 'p') or '0')
local limit = tonumber(ARGV[2])
if n + p >= limit then
  p = p - sweep(KEYS[1], tonumber(ARGV[4]))
  if n + p >= limit then return {0, n + p} end
end
redis.call('HSET', KEYS[1], 'h:' .. ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'p', 1)
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
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

MISSING = object()


@dataclass(frozen=True)
class Taken:
    granted: bool
    used: int  # the count after the take (granted) or the count that refused it


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class QuotaHolds:
    def __init__(self, cache: CacheStore | None, *, key, ttl_ms: int):
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
             now: datetime):
        """Taken, MISSING (fill the mirror first) or None (Redis unavailable)."""
        if not self.usable():
            return None
        lifetime = max(self.ttl_ms, 2 * (_ms(expires_at) - _ms(now)))
        try:
            status, used = self._take(keys=[self.key(counter)], args=[
                hold_id, limit, _ms(expires_at), _ms(now), lifetime])
        except redis.RedisError as error:
            self.cache.failed(error)
            return None
        return MISSING if status == -1 else Taken(status == 1, int(used))

    def settle(self, counter: CounterKey, hold_id: str, value: CounterValue | None) -> bool:
        """The hold's use is stored (`value`: the counter the database returned), or given
        back (None). True if this call ended the hold. Raises RedisError."""
        used, version = ("", "") if value is None else (value.used, value.version)
        return bool(self._settle(keys=[self.key(counter)],
                                 args=[hold_id, used, version, self.ttl_ms]))

    def give_back_expired(self, counter: CounterKey, now: datetime) -> int:
        if not self.usable():
            return 0
        try:
            return int(self._give_back(keys=[self.key(counter)], args=[_ms(now)]))
        except redis.RedisError as error:
            self.cache.failed(error)
            return 0

"""The Redis mirror of the usage counters, and the one-call probe of the check's hot path.

A mirrored counter is a hash {n: used, v: version}. It is only ever set to a (used, version)
that the database returned, and only when that version is newer than the one held, so
concurrent writers and fillers converge on the newest value in any order. Redis never counts on
its own. Every call fails open: on a Redis error the caller reads the database instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from app.cache import CacheStore
from app.db.repositories.quota import CounterKey, CounterValue
from app.services.quota.periods import stamp

_PUT_IF_NEWER = """
local held = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if tonumber(ARGV[2]) > held then
  redis.call('HSET', KEYS[1], 'n', ARGV[1], 'v', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

# Reads the caller's cached credential record, then (keys named from it) the user's profile,
# the model's entry, the plan limits and the counter. It mirrors QuotaService's subject and
# period rules; Python checks the counter key it used, so a mismatch costs speed, not
# correctness. Keys are built inside the script: fine on one Redis, not on a cluster.
_PROBE = """
local record = redis.call('GET', ARGV[1])
if not record then return {false, false, false, false, false, ''} end
local rec = cjson.decode(record)
local user = ARGV[2]
if user == '' and type(rec['userId']) == 'string' then user = rec['userId'] end
local subject = 'key:' .. tostring(rec['id'])
local profile = false
if user ~= '' then
  subject = 'user:' .. user
  profile = redis.call('GET', ARGV[3] .. user)
end
local model = redis.call('GET', ARGV[4])
local plans = redis.call('GET', ARGV[5])
local counter, counter_key = false, ''
if model and plans and (user == '' or profile) then
  local plan = 'free'
  if profile then plan = cjson.decode(profile)['plan'] end
  local model_type = cjson.decode(model)['modelType']
  local rule = cjson.decode(plans)[plan]
  if type(rule) == 'table' then rule = rule[model_type] end
  if type(rule) == 'table' then
    local start = ARGV[8]
    if rule['period'] == 'day' then start = ARGV[7] end
    counter_key = ARGV[6] .. subject .. ':' .. model_type .. ':' .. rule['period'] .. ':' .. start
    counter = redis.call('HGET', counter_key, 'n')
  end
end
return {record, profile, model, plans, counter, counter_key}
"""


@dataclass(frozen=True)
class Probe:
    """Raw cached values (None when missing) and the counter key the script read."""

    record: bytes | None
    profile: bytes | None
    model: bytes | None
    plans: bytes | None
    counter: bytes | None
    counter_key: str


class CounterMirror:
    def __init__(self, cache: CacheStore | None, *, ttl_seconds: int):
        self.cache = cache
        self.ttl_ms = ttl_seconds * 1000
        client = cache.client if cache is not None and cache.enabled else None
        self._put = client.register_script(_PUT_IF_NEWER) if client else None
        self._probe = client.register_script(_PROBE) if client else None

    @property
    def prefix(self) -> str:
        return self.cache.key("q", "")

    def key(self, counter: CounterKey) -> str:
        return self.cache.key("q", counter.subject, counter.model_type, counter.period,
                              stamp(counter.period_start))

    def _usable(self) -> bool:
        return self.cache is not None and self.cache.available()

    def read(self, counter: CounterKey) -> int | None:
        """The mirrored count, or None on a miss or when Redis is unavailable."""
        if not self._usable():
            return None
        try:
            value = self.cache.client.hget(self.key(counter), "n")
        except redis.RedisError as error:
            self.cache.failed(error)
            return None
        return None if value is None else int(value)

    def write(self, counter: CounterKey, value: CounterValue) -> None:
        if not self._usable():
            return
        try:
            self._put(keys=[self.key(counter)], args=[value.used, value.version, self.ttl_ms])
        except redis.RedisError as error:
            # Redis may keep an older count; the key's TTL bounds for how long.
            self.cache.failed(error)

    def probe(self, *, record_key: str, acting_for: str, profile_prefix: str, model_key: str,
              plans_key: str, day_start: str, month_start: str) -> Probe | None:
        """Everything a warm check needs, in one round trip; None when Redis is unavailable."""
        if not self._usable():
            return None
        try:
            raw = self._probe(args=[record_key, acting_for, profile_prefix, model_key, plans_key,
                                    self.prefix, day_start, month_start])
        except redis.RedisError as error:
            self.cache.failed(error)
            return None
        *values, counter_key = raw
        return Probe(*values, counter_key=counter_key.decode() if counter_key else "")

"""The Redis mirror of the usage counters, and the one-call probe of the check's hot path.

A mirrored counter is a hash {n: used, v: version}. `n` is only ever set to a (used, version)
that the database returned, and only when that version is newer than the one held, so
concurrent writers and fillers converge on the newest value in any order. The one count Redis
keeps on its own is `p`, the units of holds not yet in the database (holds.py); readers count
n + p. A counter can be marked stale (`s`, see holds.py: expired holds were given back, and one
of them may be in the database already though `n` missed it); a reader then treats it as
missing, and only a fill that read the database after the mark (it carries the mark as its
token) clears it. Every call fails open: on a Redis error the caller reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis

from app.cache import CacheStore
from app.db.repositories.quota import CounterKey, CounterValue
from app.services.quota.periods import stamp

# Lua helpers shared with holds.py. `s` holds the number of the mark (from the counter `g`), so a
# fill whose database read came before a newer mark is refused and must read again.
MARK_STALE = """
local function mark_stale(key)
  local mark = redis.call('HINCRBY', key, 'g', 1)
  redis.call('HSET', key, 's', mark)
  return tostring(mark)
end
"""

# `r` is the run id of the server that filled the counter. A replica promoted by a failover, or
# a server restarted from its append-only file, has another run id and may lack the last holds
# and settlements (replication and fsync are asynchronous): the take script then marks the
# counter stale, so it is read from the database before anything is admitted on it.
SERVER = """
local function server_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
end
local function same_server(key)
  if redis.call('HEXISTS', key, 'v') == 0 then return true end
  return redis.call('HGET', key, 'r') == server_id()
end
"""

_PUT_IF_NEWER = SERVER + """
local held = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if tonumber(ARGV[2]) > held then
  if held < 0 then redis.call('HSET', KEYS[1], 'r', server_id()) end
  redis.call('HSET', KEYS[1], 'n', ARGV[1], 'v', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

FILL = SERVER + """
local function fill(key, used, version, token, ttl)
  if (redis.call('HGET', key, 's') or '') ~= token then return false end
  local held = tonumber(redis.call('HGET', key, 'v') or '-1')
  if tonumber(version) >= held then redis.call('HSET', key, 'n', used, 'v', version) end
  redis.call('HDEL', key, 's')
  redis.call('HSET', key, 'r', server_id())
  if redis.call('PTTL', key) < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
  return true
end
"""

# KEYS[1] the counter; ARGV: used, version, token (the mark seen, '' for none), TTL (ms).
_FILL = FILL + "if fill(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end return 0"

# Reads the caller's cached credential record, then (keys named from it) the user's cached
# profile, the model's cached entry, the cached plan limits, and the subject's counters for the
# current day and month (Python picks one by the plan). It decodes only the record, to find the
# owner; it returns the subject and model type it used, and Python checks them against its own
# reading, so a mismatch costs speed, not correctness. Keys are built inside the script: fine
# on one Redis, not on a cluster, where the probe is skipped (the check takes the ordinary path).
# The profile's key is ARGV[3] .. user .. ARGV[9] (its cache key around the user id).
_PROBE = """
local record = redis.call('GET', ARGV[1])
if not record then return {false, false, false, false, false, false, ''} end
local rec = cjson.decode(record)
local user = ARGV[2]
if user == '' and type(rec['userId']) == 'string' then user = rec['userId'] end
local subject = 'key:' .. tostring(rec['id'])
local profile = false
if user ~= '' then
  subject = 'user:' .. user
  profile = redis.call('GET', ARGV[3] .. user .. ARGV[9])
end
local model = redis.call('GET', ARGV[4])
local plans = redis.call('GET', ARGV[5])
local day, month, used_for = false, false, ''
local function count(key)
  local held = redis.call('HMGET', key, 'n', 'p', 's')
  if not held[1] or held[3] then return false end
  return tonumber(held[1]) + tonumber(held[2] or '0')
end
local model_type = model and string.match(model, '"modelType":"(%a+)"')
if model_type then
  used_for = subject .. ':' .. model_type
  local counters = ARGV[6] .. used_for
  day = count(counters .. ':day:' .. ARGV[7])
  month = count(counters .. ':month:' .. ARGV[8])
end
return {record, profile, model, plans, day, month, used_for}
"""


# Stands for the user id in the profile key handed to `probe`.
PLACEHOLDER = "\x00"


@dataclass(frozen=True)
class Missing:
    """Not mirrored, or marked stale: read the database, then fill with this token."""

    token: str
    held: int  # the units held in Redis all the same


@dataclass(frozen=True)
class Probe:
    """Raw cached values (None when missing), and 'subject:modelType' the counters belong to."""

    record: bytes | None
    profile: bytes | None
    model: bytes | None
    plans: bytes | None
    counters: dict
    counted_as: str


class CounterMirror:
    def __init__(self, cache: CacheStore | None, *, ttl_seconds: int) -> None:
        self.cache = cache
        self.ttl_ms = ttl_seconds * 1000
        client = cache.client if cache is not None and cache.enabled else None
        self._put = client.register_script(_PUT_IF_NEWER) if client else None
        self._fill = client.register_script(_FILL) if client else None
        self._probe = client.register_script(_PROBE) if client else None

    @property
    def prefix(self) -> str:
        return self.cache.key("q", "")

    def key(self, counter: CounterKey) -> str:
        return self.cache.key("q", counter.subject, counter.model_type, counter.period,
                              stamp(counter.period_start))

    def _usable(self) -> bool:
        return self.cache is not None and self.cache.available()

    def read(self, counter: CounterKey) -> int | Missing | None:
        """The mirrored count with its holds; Missing when it must be read from the database
        (then `fill`); None when Redis is unavailable."""
        if not self._usable():
            return None
        try:
            used, held, mark = cast(list[bytes | None],  # the client never decodes
                                    self.cache.client.hmget(self.key(counter), "n", "p", "s"))
        except redis.RedisError as error:
            self.cache.failed(error)
            return None
        if used is None or mark is not None:
            return Missing((mark or b"").decode(), int(held or 0))
        return int(used) + int(held or 0)

    def pending(self, counter: CounterKey) -> int:
        """Units held in Redis that the database's counter does not count yet."""
        if not self._usable():
            return 0
        try:
            return int(self.cache.client.hget(self.key(counter), "p") or 0)
        except redis.RedisError as error:
            self.cache.failed(error)
            return 0

    def fill(self, counter: CounterKey, value: CounterValue, token: str) -> bool:
        """Put what the database holds, read after `read` answered Missing(token); False when
        the counter was marked stale again meanwhile (the value may miss a unit)."""
        if not self._usable():
            return False
        try:
            return bool(self._fill(keys=[self.key(counter)],
                                   args=[value.used, value.version, token, self.ttl_ms]))
        except redis.RedisError as error:
            self.cache.failed(error)
            return False

    def write(self, counter: CounterKey, value: CounterValue) -> None:
        if not self._usable():
            return
        try:
            self._put(keys=[self.key(counter)], args=[value.used, value.version, self.ttl_ms])
        except redis.RedisError as error:
            # Redis may keep an older count; the key's TTL bounds for how long.
            self.cache.failed(error)

    def probe(self, *, record_key: str, acting_for: str, profile_key: str, model_key: str,
              plans_key: str, day_start: str, month_start: str) -> Probe | None:
        """Everything a warm check needs, in one round trip; None when Redis is unavailable or
        a cluster. `profile_key` is a profile's cache key with PLACEHOLDER for the user id."""
        if not self._usable() or self.cache.clustered:
            return None
        profile_prefix, profile_suffix = profile_key.split(PLACEHOLDER)
        try:
            raw = self._probe(args=[record_key, acting_for, profile_prefix, model_key, plans_key,
                                    self.prefix, day_start, month_start, profile_suffix])
        except redis.RedisError as error:
            self.cache.failed(error)
            return None
        record, profile, model, plans, day, month, counted_as = raw
        return Probe(record, profile, model, plans, {"day": day, "month": month},
                     counted_as.decode() if counted_as else "")

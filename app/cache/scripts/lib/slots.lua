-- Slots in several buckets (sorted sets: member a slot id, score its expiry in ms on Redis's
-- clock), all or none. `keys[first_key + i - 1]` is bucket i; `args[first_arg + 3 * (i - 1)]`
-- and the two after it its slot id, limit and ttl ms.
local function clock_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The first full bucket after the expired slots are dropped: its index (1-based) and the ms
-- until one of its slots frees; nil when every bucket has room.
local function first_full(keys, first_key, count, args, first_arg, now)
  for i = 1, count do
    local key = keys[first_key + i - 1]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) >= tonumber(args[first_arg + 3 * (i - 1) + 1]) then
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      return i, tonumber(first[2]) - now
    end
  end
  return nil
end
local function take_slots(keys, first_key, count, args, first_arg, now)
  for i = 1, count do
    local key = keys[first_key + i - 1]
    local at = first_arg + 3 * (i - 1)
    local ttl = tonumber(args[at + 2])
    redis.call('ZADD', key, now + ttl, args[at])
    -- The key outlives its slots; twice their life, so it is renewed once a life, not each take.
    if redis.call('PTTL', key) < ttl then
      redis.call('PEXPIRE', key, 2 * ttl)
    end
  end
end

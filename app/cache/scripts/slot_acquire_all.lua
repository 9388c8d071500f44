-- One slot in each of several buckets, all or none (a key's rpm and concurrency slots).
-- KEYS: the buckets' zsets (member: slot id, score: expiry in ms on Redis's clock), in the
-- order they are checked. ARGV: per bucket, slot id, limit, ttl ms.
-- Returns {1} when every bucket admitted, else {0, index of the first full bucket (1-based),
-- ms until one of its slots frees}; then nothing was taken.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 * i - 1]) then
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {0, i, tonumber(first[2]) - now}
  end
end
for i, key in ipairs(KEYS) do
  local ttl = tonumber(ARGV[3 * i])
  redis.call('ZADD', key, now + ttl, ARGV[3 * i - 2])
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
return {1}

-- Take a hold on a counter if n + p stays within the limit.
-- KEYS[1] the counter; ARGV: hold id, limit, expires (ms), now (ms), minimum TTL (ms), then the
-- fill (used, version, token; used '' for none). Answers {1, count} taken, {0, count} refused,
-- {-1, token, held} missing or stale: read the database and take again with it as the fill.
--#include quota_mark_stale
--#include quota_sweep
--#include quota_server
--#include quota_fill
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

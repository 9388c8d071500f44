-- Mirror the database's count if its version is newer than the one held.
-- KEYS[1] the counter; ARGV: used, version, TTL (ms).
--#include quota_server
local held = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if tonumber(ARGV[2]) > held then
  if held < 0 then redis.call('HSET', KEYS[1], 'r', server_id()) end
  redis.call('HSET', KEYS[1], 'n', ARGV[1], 'v', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0

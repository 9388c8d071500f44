-- Put what the database holds into a counter, if the counter carries the mark `token` ('' for
-- none) the database read was made under; false when it was marked stale again meanwhile.
local function fill(key, used, version, token, ttl)
  if (redis.call('HGET', key, 's') or '') ~= token then return false end
  local held = tonumber(redis.call('HGET', key, 'v') or '-1')
  if tonumber(version) >= held then redis.call('HSET', key, 'n', used, 'v', version) end
  redis.call('HDEL', key, 's')
  redis.call('HSET', key, 'r', server_id())
  if redis.call('PTTL', key) < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
  return true
end

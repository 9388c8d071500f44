-- Take a hold on counter `key` if n + p stays within the limit. `a`: hold id, limit, expires
-- (ms), now (ms), minimum TTL (ms), then the fill (used, version, token; used '' for none),
-- from `a[first]` on. Answers {1, count} taken, {0, count} refused, {-1, token, held} missing
-- or stale: read the database and take again with it as the fill. Needs quota_mark_stale,
-- quota_sweep, quota_server and quota_fill.
local function take(key, a, first)
  local function missing()
    return {-1, redis.call('HGET', key, 's') or '', tonumber(redis.call('HGET', key, 'p') or '0')}
  end
  local hold_id, ttl = a[first], a[first + 4]
  if not same_server(key) then
    mark_stale(key)
    redis.call('HSET', key, 'r', server_id())
  end
  if a[first + 5] ~= '' and not fill(key, a[first + 5], a[first + 6], a[first + 7], ttl) then
    return missing()
  end
  if redis.call('HEXISTS', key, 'v') == 0 or redis.call('HEXISTS', key, 's') == 1 then
    return missing()
  end
  local n = tonumber(redis.call('HGET', key, 'n'))
  local p = tonumber(redis.call('HGET', key, 'p') or '0')
  if n + p >= tonumber(a[first + 1]) then
    if sweep(key, tonumber(a[first + 3])) > 0 then return missing() end
    return {0, n + p}
  end
  redis.call('HSET', key, 'h:' .. hold_id, a[first + 2])
  redis.call('HINCRBY', key, 'p', 1)
  if redis.call('PTTL', key) < tonumber(ttl) then
    redis.call('PEXPIRE', key, ttl)
  end
  return {1, n + p + 1}
end

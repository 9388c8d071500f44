-- Take a hold on counter `key` if n + p stays within the limit. `a`: hold id, limit, expires
-- (ms), now (ms), minimum TTL (ms), the fill (used, version, token; used '' for none), then
-- this server's run id ('' unknown), from `a[first]` on. Answers {1, count} taken, {0, count} refused, {-1, token, held} missing
-- or stale: read the database and take again with it as the fill. Needs quota_mark_stale,
-- quota_sweep, quota_server and quota_fill.
local function take(key, a, first)
  local function missing()
    return {-1, redis.call('HGET', key, 's') or '', tonumber(redis.call('HGET', key, 'p') or '0')}
  end
  local hold_id, ttl = a[first], a[first + 4]
  server_is(a[first + 8])
  -- A warm counter (mirrored by this server, not stale, no fill asked) is read in one call;
  -- any other goes the long way, each step on its own.
  local f = redis.call('HMGET', key, 'v', 's', 'n', 'p', 'r')
  local n, p = f[3], f[4]
  if not f[1] or f[2] or a[first + 5] ~= '' or f[5] ~= server_id() then
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
    n, p = redis.call('HGET', key, 'n'), redis.call('HGET', key, 'p')
  end
  n, p = tonumber(n), tonumber(p or '0')
  -- This hold taken already: a take sent again after its reply was lost (a client's retry on
  -- a timeout). Answered as taken, with no second unit, which no give-back would ever return.
  if redis.call('HEXISTS', key, 'h:' .. hold_id) == 1 then
    return {1, n + p}
  end
  if n + p >= tonumber(a[first + 1]) then
    if sweep(key, tonumber(a[first + 3])) > 0 then return missing() end
    return {0, n + p}
  end
  -- p + 1 is HINCRBY's answer: the script runs alone.
  redis.call('HSET', key, 'h:' .. hold_id, a[first + 2], 'p', p + 1)
  if redis.call('PTTL', key) < tonumber(ttl) then
    redis.call('PEXPIRE', key, ttl)
  end
  return {1, n + p + 1}
end

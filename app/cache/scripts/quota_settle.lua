-- End a hold: its unit is stored (the database's count put if newer) or given back.
-- KEYS[1] the counter; ARGV: hold id, used ('' when nothing was stored), version, TTL (ms).
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

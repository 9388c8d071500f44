-- Add statement figures. KEYS: calls, total, max, last (hashes by fingerprint, one hash slot).
-- ARGV: (fingerprint, calls, total ms, max ms, last epoch) repeated.
for i = 1, #ARGV, 5 do
  local fp = ARGV[i]
  redis.call('HINCRBY', KEYS[1], fp, ARGV[i + 1])
  redis.call('HINCRBYFLOAT', KEYS[2], fp, ARGV[i + 2])
  local max = tonumber(redis.call('HGET', KEYS[3], fp) or '0')
  if tonumber(ARGV[i + 3]) > max then redis.call('HSET', KEYS[3], fp, ARGV[i + 3]) end
  local last = tonumber(redis.call('HGET', KEYS[4], fp) or '0')
  if tonumber(ARGV[i + 4]) > last then redis.call('HSET', KEYS[4], fp, ARGV[i + 4]) end
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], 604800) end
return 1

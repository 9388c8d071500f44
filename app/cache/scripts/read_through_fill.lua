-- Keep a read-through fill only when no invalidation happened since the reader looked at the
-- generation. KEYS: the value, its generation. ARGV: generation seen, payload, TTL (ms).
local current = redis.call('GET', KEYS[2]) or '0'
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0

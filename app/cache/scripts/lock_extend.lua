-- Extend a lock only for its owner. KEYS[1] the lock; ARGV: the owner's token, TTL (ms).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

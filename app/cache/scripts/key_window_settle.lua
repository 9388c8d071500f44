-- A request of an API key ended (app/cache/key_windows.py): its hold leaves and, when its use
-- was stored, the use joins the log under its request id, so charging twice charges once.
-- KEYS as key_window_take.lua. ARGV: hold id ('' none), entry id ('' nothing was used), at (ms),
-- tokens, cost (1e-8 USD), key TTL (ms).
if ARGV[1] ~= '' then redis.call('HDEL', KEYS[3], 'h:' .. ARGV[1]) end
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4] .. ':' .. ARGV[5])
  for i = 1, 2 do
    if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[6]) then
      redis.call('PEXPIRE', KEYS[i], ARGV[6])
    end
  end
end
return 1

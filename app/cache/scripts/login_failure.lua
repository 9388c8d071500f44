-- One more failed login on KEYS[1] (a hash), atomically. Mirrors
-- app/db/repositories/login_failures.py: a lapsed window starts over; the
-- lock_after-th failure in a window locks the key for the next lockout length,
-- which then doubles up to the maximum (back to the first length once the key
-- has been quiet for memory_ms, when Redis forgets it). lock_after 0 never locks.
-- ARGV: now_ms, window_ms, lock_after, lockout_ms, max_lockout_ms, memory_ms
local now = tonumber(ARGV[1])
local window, lock_after = tonumber(ARGV[2]), tonumber(ARGV[3])
local lockout_ms, max_lockout, memory = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local f = redis.call('HMGET', KEYS[1], 'failures', 'window_ends_ms', 'next_lockout_ms')
local failures, window_ends = tonumber(f[1]) or 0, tonumber(f[2]) or 0
local lockout = tonumber(f[3]) or lockout_ms
if window_ends <= now then
  failures, window_ends = 1, now + window
else
  failures = failures + 1
end
if lock_after > 0 and failures >= lock_after then
  redis.call('HSET', KEYS[1], 'locked_until_ms', now + lockout)
  failures, lockout = 0, math.min(lockout * 2, max_lockout)
end
redis.call('HSET', KEYS[1], 'failures', failures, 'window_ends_ms', window_ends,
           'last_failure_ms', now, 'next_lockout_ms', lockout)
redis.call('PEXPIRE', KEYS[1], math.max(memory, window, lockout))
return failures

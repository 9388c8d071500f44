-- A quota hold and a key's slots (its rpm and concurrency), all or none, in one call: the
-- admission of a chat-fast or client-protocol request.
-- KEYS[1] the counter, then the buckets in the order they are checked. ARGV: quota_take.lua's
-- nine, then per bucket slot id, limit, ttl ms.
-- Answers quota_take.lua's answers, the slots taken only with the hold ({1, count}); or
-- {-2, index of the first full bucket (1-based), ms until one of its slots frees} when a bucket
-- is full: then nothing was taken, and the counter was not asked.
--#include quota_mark_stale
--#include quota_sweep
--#include quota_server
--#include quota_fill
--#include quota_take
--#include slots
local buckets = #KEYS - 1
local now = clock_ms()
-- Sent again after its reply was lost: the hold and its slots were taken together then, and
-- its own slots must not make a bucket look full now; take() answers it as taken.
if redis.call('HEXISTS', KEYS[1], 'h:' .. ARGV[1]) == 1 then
  return take(KEYS[1], ARGV, 1)
end
local full, wait = first_full(KEYS, 2, buckets, ARGV, 10, now)
if full then
  return {-2, full, wait}
end
local taken = take(KEYS[1], ARGV, 1)
if taken[1] == 1 then
  take_slots(KEYS, 2, buckets, ARGV, 10, now)
end
return taken

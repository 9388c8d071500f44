-- One slot in each of several buckets, all or none (a key's rpm and concurrency slots).
-- KEYS: the buckets' zsets (member: slot id, score: expiry in ms on Redis's clock), in the
-- order they are checked. ARGV: per bucket, slot id, limit, ttl ms.
-- Returns {1} when every bucket admitted, else {0, index of the first full bucket (1-based),
-- ms until one of its slots frees}; then nothing was taken.
--#include slots
local now = clock_ms()
local full, wait = first_full(KEYS, 1, #KEYS, ARGV, 1, now)
if full then
  return {0, full, wait}
end
take_slots(KEYS, 1, #KEYS, ARGV, 1, now)
return {1}

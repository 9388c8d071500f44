-- Take a hold on a counter if n + p stays within the limit.
-- KEYS[1] the counter; ARGV: hold id, limit, expires (ms), now (ms), minimum TTL (ms), then the
-- fill (used, version, token; used '' for none). Answers {1, count} taken, {0, count} refused,
-- {-1, token, held} missing or stale: read the database and take again with it as the fill.
--#include quota_mark_stale
--#include quota_sweep
--#include quota_server
--#include quota_fill
--#include quota_take
return take(KEYS[1], ARGV, 1)

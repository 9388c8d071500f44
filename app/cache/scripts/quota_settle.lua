-- End a hold: its unit is stored (the database's count put if newer) or given back.
-- KEYS[1] the counter; ARGV: hold id, used ('' when nothing was stored), version, TTL (ms).
--#include quota_settle
return settle_holds(KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV, 1, 1)[1]

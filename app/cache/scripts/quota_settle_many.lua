-- End many holds of one counter (quota_settle.lua for each, in one call).
-- KEYS[1] the counter; ARGV: used, version (of the newest value stored; used '' when none
-- was), TTL (ms), then the hold ids. Answers 1 or 0 per hold, as quota_settle.lua would.
--#include quota_settle
return settle_holds(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV, 4, #ARGV)

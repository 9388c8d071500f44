-- KEYS[1] the counter; ARGV: now (ms). Gives back expired holds; answers how many.
--#include quota_mark_stale
--#include quota_sweep
return sweep(KEYS[1], tonumber(ARGV[1]))

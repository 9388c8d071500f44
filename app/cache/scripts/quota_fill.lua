-- KEYS[1] the counter; ARGV: used, version, token (the mark seen, '' for none), TTL (ms).
--#include quota_server
--#include quota_fill
if fill(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end return 0

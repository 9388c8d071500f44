-- One request's admission against all of an API key's window limits, atomically
-- (app/cache/key_windows.py; the rules and the database fallback: app/services/key_windows.py).
-- KEYS[1] the log (zset: entry id -> when it was used, ms), KEYS[2] the entries' amounts (hash:
-- entry id -> 'tokens:cost'), KEYS[3] the state (hash): 'f' the log is complete until (ms), 'w'
-- the span it covers (ms), 'r' the run id of the server that filled it, and 'h:<hold id>' ->
-- 'expires:tokens:cost' per request in flight. Cost is in units of 1e-8 USD.
-- ARGV: hold id, now, hold expiry, estimated tokens, estimated cost, span, fresh for (ms),
-- key TTL (ms), n; then n x (window ms, requests, tokens, cost; '' for none); then '1' and
-- 4 x (entry id, at, tokens, cost) per entry of the database to fill the log with, or '0'.
-- Answers {1} admitted (the hold is taken), {0, retry ms, window number, kind, used, limit}
-- refused, {-1} the log must be filled from the database first.
local log, amounts, state = KEYS[1], KEYS[2], KEYS[3]
local hold, now, expires = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local est_tokens, est_cost = ARGV[4], ARGV[5]
local span, fresh_for, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local n = tonumber(ARGV[9])
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
local CHUNK = 1000

local fill_at = 10 + 4 * n
if ARGV[fill_at] == '1' then
  for i = fill_at + 1, #ARGV, 4 do
    redis.call('ZADD', log, ARGV[i + 1], ARGV[i])
    redis.call('HSET', amounts, ARGV[i], ARGV[i + 2] .. ':' .. ARGV[i + 3])
  end
  redis.call('HSET', state, 'f', now + fresh_for, 'w', span, 'r', run_id)
end

-- A log filled on another server (a failover, a restart), gone stale, or covering less than
-- the longest window is filled again: the database is the record.
local fresh = tonumber(redis.call('HGET', state, 'f') or '0')
local covered = tonumber(redis.call('HGET', state, 'w') or '0')
if fresh < now or covered < span or redis.call('HGET', state, 'r') ~= run_id then
  return {-1}
end

-- Holds in flight; an expired one is given back, and since its use may be stored already
-- though its charge never reached the log, the log is filled again.
local held = {0, 0, 0}
local fields = redis.call('HGETALL', state)
local swept = false
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'h:' then
    local e, t, c = string.match(fields[i + 1], '^(%d+):(%d+):(%d+)$')
    if tonumber(e) <= now then
      redis.call('HDEL', state, fields[i])
      swept = true
    else
      held[1], held[2], held[3] = held[1] + 1, held[2] + tonumber(t), held[3] + tonumber(c)
    end
  end
end
if swept then
  redis.call('HDEL', state, 'f')
  return {-1}
end

local old = redis.call('ZRANGEBYSCORE', log, '-inf', now - covered)
for i = 1, #old, CHUNK do
  local part = {unpack(old, i, math.min(i + CHUNK - 1, #old))}
  redis.call('ZREM', log, unpack(part))
  redis.call('HDEL', amounts, unpack(part))
end

-- The entries of a window, oldest first: {at, tokens, cost}.
local function entries(w, amounts_needed)
  local found = redis.call('ZRANGEBYSCORE', log, '(' .. (now - w), '+inf', 'WITHSCORES')
  local list = {}
  for i = 1, #found, 2 do list[#list + 1] = {tonumber(found[i + 1]), 0, 0, found[i]} end
  if amounts_needed then
    for i = 1, #list, CHUNK do
      local ids = {}
      for j = i, math.min(i + CHUNK - 1, #list) do ids[#ids + 1] = list[j][4] end
      local values = redis.call('HMGET', amounts, unpack(ids))
      for j = 1, #values do
        local t, c = string.match(values[j] or '0:0', '^(%d+):(%d+)$')
        list[i + j - 1][2], list[i + j - 1][3] = tonumber(t or 0), tonumber(c or 0)
      end
    end
  end
  return list
end

-- When does the window have room again: once enough of its oldest entries slide out.
local function retry(list, field, used, limit, w)
  for i = 1, #list do
    used = used - (field == 1 and 1 or list[i][field])
    if used < limit then return list[i][1] + w - now end
  end
  return w
end

for i = 0, n - 1 do
  local base = 10 + 4 * i
  local w = tonumber(ARGV[base])
  local limits = {tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])}
  local list = entries(w, limits[2] ~= nil or limits[3] ~= nil)
  local used = {#list + held[1], held[2], held[3]}
  for j = 1, #list do used[2], used[3] = used[2] + list[j][2], used[3] + list[j][3] end
  local kinds = {'requests', 'tokens', 'cost'}
  for k = 1, 3 do
    if limits[k] ~= nil and used[k] >= limits[k] then
      return {0, retry(list, k, used[k], limits[k], w), i + 1, kinds[k], used[k], limits[k]}
    end
  end
end

redis.call('HSET', state, 'h:' .. hold, expires .. ':' .. est_tokens .. ':' .. est_cost)
for _, key in ipairs({log, amounts, state}) do
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
return {1}

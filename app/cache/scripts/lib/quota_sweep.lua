-- Give back a counter's expired holds (fields `h:<id>` whose value, the expiry in ms, is past
-- `now`) and mark it stale when any went: one of them may be in the database already.
local function sweep(key, now)
  local fields = redis.call('HGETALL', key)
  local freed = 0
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'h:' and tonumber(fields[i + 1]) <= now then
      redis.call('HDEL', key, fields[i])
      freed = freed + 1
    end
  end
  if freed > 0 then
    redis.call('HINCRBY', key, 'p', -freed)
    mark_stale(key)
  end
  return freed
end

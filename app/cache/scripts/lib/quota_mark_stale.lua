-- A counter marked stale is read from the database before anything is admitted on it. `s`
-- holds the number of the mark (from the counter `g`), so a fill whose database read came
-- before a newer mark is refused and must read again.
local function mark_stale(key)
  local mark = redis.call('HINCRBY', key, 'g', 1)
  redis.call('HSET', key, 's', mark)
  return tostring(mark)
end

-- End holds `ids[first..last]` of counter `key`: the newest count stored with them (`used`
-- '' when none was) is put if newer, and each hold still there leaves `p`. Putting the newest
-- once is putting each in turn: a value is only ever replaced by a newer one. Answers 1 per
-- hold this call ended, 0 per hold already gone (settled before, also earlier in `ids`, or
-- expired and given back).
local function settle_holds(key, used, version, ttl, ids, first, last)
  if used ~= '' then
    local held = tonumber(redis.call('HGET', key, 'v') or '-1')
    if tonumber(version) > held then
      redis.call('HSET', key, 'n', used, 'v', version)
      redis.call('PEXPIRE', key, ttl)
    end
  end
  local ended, count = {}, 0
  for i = first, last do
    ended[#ended + 1] = redis.call('HDEL', key, 'h:' .. ids[i])
    count = count + ended[#ended]
  end
  if count > 0 then redis.call('HINCRBY', key, 'p', -count) end
  return ended
end

-- The quota check's warm path in one call (QuotaGate): reads the caller's cached credential
-- record, then (keys named from it) the user's cached profile, the model's cached entry, the
-- cached plan limits, and the subject's counters for the current day and month (Python picks
-- one by the plan). It decodes the record, to find the owner, and the model entry, for its
-- model type (the field named by ARGV[10]); it returns the subject and model type it used, and
-- Python checks them against its own reading, so a mismatch costs speed, not correctness. Keys
-- are built inside the script: fine on one Redis, not on a cluster, where the probe is skipped
-- (the check takes the ordinary path). The record is a key's (KEY_RECORD_VERSION) or a
-- session's (SESSION_RECORD_VERSION): both name their owner `user_id`; its key carries that
-- format's version, so a record an older instance cached is never read here.
-- ARGV: record key, the user acted for ('' none), profile key before the user id, model key,
-- plans key, counters prefix, day stamp, month stamp, profile key after the user id, the
-- model entry's model-type field.
local record = redis.call('GET', ARGV[1])
if not record then return {false, false, false, false, false, false, ''} end
local rec = cjson.decode(record)
local user = ARGV[2]
if user == '' and type(rec['user_id']) == 'string' then user = rec['user_id'] end
local subject = 'key:' .. tostring(rec['id'])
local profile = false
if user ~= '' then
  subject = 'user:' .. user
  profile = redis.call('GET', ARGV[3] .. user .. ARGV[9])
end
local model = redis.call('GET', ARGV[4])
local plans = redis.call('GET', ARGV[5])
local day, month, used_for = false, false, ''
local function count(key)
  local held = redis.call('HMGET', key, 'n', 'p', 's')
  if not held[1] or held[3] then return false end
  return tonumber(held[1]) + tonumber(held[2] or '0')
end
local model_type = false
if model then
  local entry = cjson.decode(model)
  if type(entry) == 'table' and type(entry[ARGV[10]]) == 'string' then
    model_type = entry[ARGV[10]]
  end
end
if model_type then
  used_for = subject .. ':' .. model_type
  local counters = ARGV[6] .. used_for
  day = count(counters .. ':day:' .. ARGV[7])
  month = count(counters .. ':month:' .. ARGV[8])
end
return {record, profile, model_type, plans, day, month, used_for}

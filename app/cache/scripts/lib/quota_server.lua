-- `r` is the run id of the server that filled the counter. A replica promoted by a failover, or
-- a server restarted from its append-only file, has another run id and may lack the last holds
-- and settlements (replication and fsync are asynchronous): the take script then marks the
-- counter stale, so it is read from the database before anything is admitted on it.
-- The run id is the caller's when it gives one (`server_is`: learnt on the connection the call
-- came by, so it is this server's; app/cache/round_trip.py), else asked of INFO, once a call.
local known_server = false
local function server_is(given)
  if given and given ~= '' then known_server = given end
end
local function server_id()
  if not known_server then
    known_server = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
  end
  return known_server
end
local function same_server(key)
  if redis.call('HEXISTS', key, 'v') == 0 then return true end
  return redis.call('HGET', key, 'r') == server_id()
end

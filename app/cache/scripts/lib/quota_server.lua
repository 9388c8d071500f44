-- `r` is the run id of the server that filled the counter. A replica promoted by a failover, or
-- a server restarted from its append-only file, has another run id and may lack the last holds
-- and settlements (replication and fsync are asynchronous): the take script then marks the
-- counter stale, so it is read from the database before anything is admitted on it.
local function server_id()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
end
local function same_server(key)
  if redis.call('HEXISTS', key, 'v') == 0 then return true end
  return redis.call('HGET', key, 'r') == server_id()
end

-- The per-node heartbeat: refresh this node's key, reap nicks of nodes whose key expired,
-- check the epoch, and tick this node's own channel (proof, on the subscriber connection, that
-- everything published before the returned time has been received).
-- uses: lib/now.lua lib/holder-alive.lua
-- KEYS: node key, nicks hash, epoch, tick channel
-- ARGV: ttl ms, node key prefix, a fresh epoch candidate
-- Returns {now, epoch, reaped nick...}.
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[3], ARGV[3], 'NX')
local epoch = redis.call('GET', KEYS[3])
local all = redis.call('HGETALL', KEYS[2])
local alive = {}
local out = {0, epoch}
for i = 1, #all, 2 do
  if not holder_alive(alive, ARGV[2], all[i + 1]) then
    redis.call('HDEL', KEYS[2], all[i])
    out[#out + 1] = all[i]
  end
end
local now = now_ms()
out[1] = now
redis.call('PUBLISH', KEYS[4], string.format('%d', now))
return out

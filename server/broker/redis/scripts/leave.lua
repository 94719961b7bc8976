-- A node leaving for good: its heartbeat key and every nick it holds go.
-- KEYS: node key, nicks hash
-- ARGV: node id
-- Returns 1.
redis.call('DEL', KEYS[1])
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if string.match(all[i + 1], '^(%S+)') == ARGV[1] then redis.call('HDEL', KEYS[2], all[i]) end
end
return 1

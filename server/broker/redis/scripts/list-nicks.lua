-- Nicks whose node is alive (unsorted).
-- uses: lib/holder-alive.lua
-- KEYS: nicks hash
-- ARGV: node key prefix
local all = redis.call('HGETALL', KEYS[1])
local alive = {}
local out = {}
for i = 1, #all, 2 do
  if holder_alive(alive, ARGV[1], all[i + 1]) then out[#out + 1] = all[i] end
end
return out

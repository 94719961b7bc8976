-- Nicks whose node is alive (unsorted).
-- KEYS: nicks hash
-- ARGV: node key prefix
local all = redis.call('HGETALL', KEYS[1])
local alive = {}
local out = {}
for i = 1, #all, 2 do
  local node = string.match(all[i + 1], '^(%S+)')
  local ok = alive[node]
  if ok == nil then
    ok = redis.call('EXISTS', ARGV[1] .. node) == 1
    alive[node] = ok
  end
  if ok then out[#out + 1] = all[i] end
end
return out

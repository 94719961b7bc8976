-- Take a nick unless a connection of a live node holds it.
-- KEYS: nicks hash
-- ARGV: nick, holder (`<node> <conn>`), node key prefix
-- Returns 1 if the nick is now the holder's, 0 if a live connection holds it.
local h = redis.call('HGET', KEYS[1], ARGV[1])
if h and h ~= ARGV[2] then
  local node = string.match(h, '^(%S+)')
  if redis.call('EXISTS', ARGV[3] .. node) == 1 then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1

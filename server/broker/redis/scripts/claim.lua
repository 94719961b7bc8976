-- Take a nick unless a connection of a live node holds it.
-- uses: lib/holder-alive.lua
-- KEYS: nicks hash
-- ARGV: nick, holder (`<node> <conn>`), node key prefix
-- Returns 1 if the nick is now the holder's, 0 if a live connection holds it.
local h = redis.call('HGET', KEYS[1], ARGV[1])
if h and h ~= ARGV[2] and holder_alive({}, ARGV[3], h) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1

-- Give a nick back if the holder still holds it.
-- KEYS: nicks hash
-- ARGV: nick, holder (`<node> <conn>`)
-- Returns 1.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1

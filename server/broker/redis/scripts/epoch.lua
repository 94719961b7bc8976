-- Establish or rotate the epoch.
-- KEYS: epoch, position counter of the expected epoch (rotate only)
-- ARGV: candidate, mode ('ensure' = SET NX; 'rotate' = replace if still ARGV[3]), expected
-- Returns the epoch now in force. A rotation deletes the old epoch's position counter: no message
-- of the new epoch is numbered by it, so it would only be left behind.
if ARGV[2] == 'rotate' then
  if redis.call('GET', KEYS[1]) == ARGV[3] then
    redis.call('SET', KEYS[1], ARGV[1])
    redis.call('DEL', KEYS[2])
  end
else
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
return redis.call('GET', KEYS[1])

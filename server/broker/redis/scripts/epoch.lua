-- Establish or rotate the epoch.
-- KEYS: epoch
-- ARGV: candidate, mode ('ensure' = SET NX; 'rotate' = replace if still ARGV[3]), expected
-- Returns the epoch now in force.
if ARGV[2] == 'rotate' then
  if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('SET', KEYS[1], ARGV[1]) end
else
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
return redis.call('GET', KEYS[1])

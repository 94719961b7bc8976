-- trim_age(key, now, max_age): drop stream entries older than max_age ms (their t field),
-- a bounded batch (512) per call. Needs the entries' fields in the order j, t.
local function trim_age(key, now, max_age)
  local cutoff = now - max_age
  local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
  if #first == 0 or tonumber(first[1][2][4]) >= cutoff then return end
  local batch = redis.call('XRANGE', key, '-', '+', 'COUNT', 512)
  local minid = nil
  for i = 1, #batch do
    if tonumber(batch[i][2][4]) >= cutoff then minid = batch[i][1]; break end
  end
  if not minid then
    minid = string.format('%d-0', tonumber(string.match(batch[#batch][1], '^(%d+)')) + 1)
  end
  redis.call('XTRIM', key, 'MINID', minid)
end

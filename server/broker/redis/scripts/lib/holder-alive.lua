-- Whether the node of a nick's holder (`<node> <connection>`) still heartbeats (its node key
-- exists); `cache` remembers each node's answer for the rest of the script.
local function holder_alive(cache, prefix, holder)
  local node = string.match(holder, '^(%S+)')
  local ok = cache[node]
  if ok == nil then
    ok = redis.call('EXISTS', prefix .. node) == 1
    cache[node] = ok
  end
  return ok
end

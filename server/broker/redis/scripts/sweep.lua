-- Forget idle topics, one HSCAN chunk of the seq hash per call: a topic whose stream is empty
-- after age trimming (or, if its rule keeps no stream, with no publish for the idle time) loses
-- its stream, seq and last-publish fields, so its next publish starts again at seq 1. Atomic
-- per chunk, so a publish can never land between the check and the delete.
-- uses: lib/now.lua lib/trim-age.lua
-- KEYS: seq hash, last-publish hash
-- ARGV: cursor, chunk size, stream key prefix, idle ms for rules keeping nothing, then the
--       retention rules as triples (pattern, max messages, max age ms), first match wins
-- Returns {next cursor ('0' when the pass is complete), topics forgotten}.
-- matches() is protocol/topics.ts `matches` (NATS rules: `*` one token, `>` the rest).
local function matches(pattern, topic)
  local p, t = {}, {}
  for x in string.gmatch(pattern, '[^.]+') do p[#p + 1] = x end
  for x in string.gmatch(topic, '[^.]+') do t[#t + 1] = x end
  for i = 1, #p do
    if p[i] == '>' then return #t >= i end
    if i > #t or (p[i] ~= '*' and p[i] ~= t[i]) then return false end
  end
  return #p == #t
end
local now = now_ms()
local idle = tonumber(ARGV[4])
local scan = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local fields = scan[2]
local forgotten = 0
for i = 1, #fields, 2 do
  local topic = fields[i]
  local max_n, max_age = 0, 0
  for r = 5, #ARGV, 3 do
    if matches(ARGV[r], topic) then max_n, max_age = tonumber(ARGV[r + 1]), tonumber(ARGV[r + 2]); break end
  end
  local stream = ARGV[3] .. topic
  local gone
  if max_n > 0 then
    if redis.call('EXISTS', stream) == 1 then trim_age(stream, now, max_age) end
    gone = redis.call('XLEN', stream) == 0
  else
    gone = now - tonumber(redis.call('HGET', KEYS[2], topic) or '0') >= idle
  end
  if gone then
    redis.call('DEL', stream)
    redis.call('HDEL', KEYS[1], topic)
    redis.call('HDEL', KEYS[2], topic)
    forgotten = forgotten + 1
  end
end
return {scan[1], forgotten}

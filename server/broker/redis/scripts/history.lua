-- A page of a topic's history.
-- uses: lib/now.lua lib/trim-age.lua
-- KEYS: epoch, seq hash, stream
-- ARGV: topic, since ('' = none), limit ('' = none), max age ms, a fresh epoch candidate
-- Returns {epoch, lastSeq, firstRetainedSeq, seq1, ts1, json1, pos1, seq2, ...} (pos 0 for an entry
-- written before positions existed), oldest first: the
-- epoch comes with the page, so a page can never be taken for one of another epoch.
redis.call('SET', KEYS[1], ARGV[5], 'NX')
local epoch = redis.call('GET', KEYS[1])
local seq_key, stream_key = KEYS[2], KEYS[3]
local last = tonumber(redis.call('HGET', seq_key, ARGV[1]) or '0')
if redis.call('EXISTS', stream_key) == 1 then trim_age(stream_key, now_ms(), tonumber(ARGV[4])) end
local first = redis.call('XRANGE', stream_key, '-', '+', 'COUNT', 1)
local first_seq = last + 1
if #first > 0 then first_seq = tonumber(string.match(first[1][1], '^(%d+)')) end
local r = {}
local since, limit = ARGV[2], ARGV[3]
if limit == '0' then
  r = {}
elseif since ~= '' then
  local start = string.format('%d-0', tonumber(since) + 1)
  if limit ~= '' then r = redis.call('XRANGE', stream_key, start, '+', 'COUNT', limit)
  else r = redis.call('XRANGE', stream_key, start, '+') end
elseif limit ~= '' then
  local rev = redis.call('XREVRANGE', stream_key, '+', '-', 'COUNT', limit)
  for i = #rev, 1, -1 do r[#r + 1] = rev[i] end
else
  r = redis.call('XRANGE', stream_key, '-', '+')
end
local out = {epoch, last, first_seq}
for i = 1, #r do
  out[#out + 1] = tonumber(string.match(r[i][1], '^(%d+)'))
  out[#out + 1] = tonumber(r[i][2][4])
  out[#out + 1] = r[i][2][2]
  out[#out + 1] = tonumber(r[i][2][6] or '0')
end
return out

-- Publish one message: seq, stream entry and pub/sub message together.
-- uses: lib/now.lua lib/trim-age.lua
-- KEYS: epoch, seq hash, stream, channel, last-publish hash, position counter of the expected epoch
-- ARGV: topic, data JSON, max messages, max age ms, origin (`node/conn` or `-`), expected epoch,
--       a fresh epoch candidate (never the current epoch: a missing key means data was lost),
--       max live topics (0: no cap, for the hub's own topics)
-- The position (pos) is global: one counter per epoch for every topic, so SSE streams over many
-- topics resume from one number; it is stored in the stream entry (field p) and the live message.
-- Returns {1, seq, ts, pos}; when the epoch is not the expected one, {0, epoch}; when the topic is
-- new and the seq hash already holds max live topics, {2, count}. The last two do nothing.
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[7], 'NX')
  epoch = redis.call('GET', KEYS[1])
end
if epoch ~= ARGV[6] then return {0, epoch} end
if tonumber(ARGV[8]) > 0 and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  local count = redis.call('HLEN', KEYS[2])
  if count >= tonumber(ARGV[8]) then return {2, count} end
end
local seq = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local ts = now_ms()
local pos = redis.call('INCR', KEYS[6])
local s = string.format('%d', seq)
local t = string.format('%d', ts)
local p = string.format('%d', pos)
local json = '{"topic":"' .. ARGV[1] .. '","seq":' .. s .. ',"ts":' .. t .. ',"data":' .. ARGV[2] .. '}'
local max_n = tonumber(ARGV[3])
if max_n > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', max_n, s .. '-0', 'j', json, 't', t, 'p', p)
  trim_age(KEYS[3], ts, tonumber(ARGV[4]))
else
  redis.call('HSET', KEYS[5], ARGV[1], t)
end
redis.call('PUBLISH', KEYS[4], epoch .. ' ' .. s .. ' ' .. t .. ' ' .. p .. ' ' .. ARGV[5] .. ' ' .. json)
return {1, seq, ts, pos}

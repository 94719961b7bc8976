/**
 * The Lua scripts of the Redis broker. Each runs atomically in Redis, so a seq, the stream entry
 * and the pub/sub message it belongs to can never be split by another publisher.
 *
 * Keys (prefix `th:` by default):
 *   <p>epoch          string   the current epoch (SET NX by the first node)
 *   <p>seq            hash     topic -> last seq (also the registry of live topics, capped by MAX_TOPICS)
 *   <p>last           hash     topic -> ts of its last publish, for topics whose rule keeps no stream
 *   <p>s:<topic>      stream   history, entry id `<seq>-0`, fields j (wire JSON), t (ts)
 *   <p>m:<topic>      channel  live messages: `<epoch> <seq> <ts> <origin> <json>`
 *   <p>t:<node>       channel  a node's own liveness tick: `<ts>`
 *   <p>node:<node>    string   a node's heartbeat, expires after the node TTL
 *   <p>nicks          hash     nick -> `<node> <connection>`
 */
import { createHash } from 'node:crypto';

export interface Script {
  source: string;
  sha: string;
}

const define = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });

/** Redis TIME in Unix ms. */
const NOW = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** Drop entries older than maxAge ms (ts field), a bounded batch at a time. */
const TRIM_AGE = `
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
`;

/**
 * KEYS: epoch, seq hash, stream, channel, last-publish hash
 * ARGV: topic, data JSON, max messages, max age ms, origin (`node/conn` or `-`), expected epoch,
 *       a fresh epoch candidate (never the current epoch: a missing key means data was lost),
 *       max live topics
 * Returns {1, seq, ts}; when the epoch is not the expected one, {0, epoch}; when the topic is
 * new and the seq hash already holds max live topics, {2, count}. The last two do nothing.
 */
export const PUBLISH = define(`${NOW}${TRIM_AGE}
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[7], 'NX')
  epoch = redis.call('GET', KEYS[1])
end
if epoch ~= ARGV[6] then return {0, epoch} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  local count = redis.call('HLEN', KEYS[2])
  if count >= tonumber(ARGV[8]) then return {2, count} end
end
local seq = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local ts = now_ms()
local s = string.format('%d', seq)
local t = string.format('%d', ts)
local json = '{"topic":"' .. ARGV[1] .. '","seq":' .. s .. ',"ts":' .. t .. ',"data":' .. ARGV[2] .. '}'
local max_n = tonumber(ARGV[3])
if max_n > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', max_n, s .. '-0', 'j', json, 't', t)
  trim_age(KEYS[3], ts, tonumber(ARGV[4]))
else
  redis.call('HSET', KEYS[5], ARGV[1], t)
end
redis.call('PUBLISH', KEYS[4], epoch .. ' ' .. s .. ' ' .. t .. ' ' .. ARGV[5] .. ' ' .. json)
return {1, seq, ts}
`);

/**
 * Forget idle topics, one HSCAN chunk of the seq hash per call: a topic whose stream is empty
 * after age trimming (or, if its rule keeps no stream, with no publish for the idle time) loses
 * its stream, seq and last-publish fields, so its next publish starts again at seq 1. Atomic
 * per chunk, so a publish can never land between the check and the delete.
 * KEYS: seq hash, last-publish hash
 * ARGV: cursor, chunk size, stream key prefix, idle ms for rules keeping nothing, then the
 *       retention rules as triples (pattern, max messages, max age ms), first match wins
 * Returns {next cursor ('0' when the pass is complete), topics forgotten}.
 */
export const SWEEP = define(`${NOW}${TRIM_AGE}
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
`);

/**
 * KEYS: epoch, seq hash, stream
 * ARGV: topic, since ('' = none), limit ('' = none), max age ms, a fresh epoch candidate
 * Returns {epoch, lastSeq, firstRetainedSeq, seq1, ts1, json1, seq2, ...}, oldest first: the
 * epoch comes with the page, so a page can never be taken for one of another epoch.
 */
export const HISTORY = define(`${NOW}${TRIM_AGE}
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
end
return out
`);

/**
 * KEYS: epoch
 * ARGV: candidate, mode ('ensure' = SET NX; 'rotate' = replace if still ARGV[3]), expected
 * Returns the epoch now in force.
 */
export const EPOCH = define(`
if ARGV[2] == 'rotate' then
  if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('SET', KEYS[1], ARGV[1]) end
else
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
return redis.call('GET', KEYS[1])
`);

/**
 * The per-node heartbeat: refresh this node's key, reap nicks of nodes whose key expired,
 * check the epoch, and tick this node's own channel (proof, on the subscriber connection, that
 * everything published before the returned time has been received).
 * KEYS: node key, nicks hash, epoch, tick channel
 * ARGV: ttl ms, node key prefix, a fresh epoch candidate
 * Returns {now, epoch, reaped nick...}.
 */
export const HEARTBEAT = define(`${NOW}
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[3], ARGV[3], 'NX')
local epoch = redis.call('GET', KEYS[3])
local all = redis.call('HGETALL', KEYS[2])
local alive = {}
local out = {0, epoch}
for i = 1, #all, 2 do
  local node = string.match(all[i + 1], '^(%S+)')
  local ok = alive[node]
  if ok == nil then
    ok = redis.call('EXISTS', ARGV[2] .. node) == 1
    alive[node] = ok
  end
  if not ok then
    redis.call('HDEL', KEYS[2], all[i])
    out[#out + 1] = all[i]
  end
end
local now = now_ms()
out[1] = now
redis.call('PUBLISH', KEYS[4], string.format('%d', now))
return out
`);

/**
 * KEYS: nicks hash
 * ARGV: nick, holder (`<node> <conn>`), node key prefix
 * Returns 1 if the nick is now the holder's, 0 if a live connection holds it.
 */
export const CLAIM = define(`
local h = redis.call('HGET', KEYS[1], ARGV[1])
if h and h ~= ARGV[2] then
  local node = string.match(h, '^(%S+)')
  if redis.call('EXISTS', ARGV[3] .. node) == 1 then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`);

/** KEYS: nicks hash; ARGV: nick, holder. */
export const RELEASE = define(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`);

/** KEYS: nicks hash; ARGV: node key prefix. Nicks whose node is alive. */
export const LIST_NICKS = define(`
local all = redis.call('HGETALL', KEYS[1])
local alive = {}
local out = {}
for i = 1, #all, 2 do
  local node = string.match(all[i + 1], '^(%S+)')
  local ok = alive[node]
  if ok == nil then
    ok = redis.call('EXISTS', ARGV[1] .. node) == 1
    alive[node] = ok
  end
  if ok then out[#out + 1] = all[i] end
end
return out
`);

/** KEYS: node key, nicks hash; ARGV: node id. A node leaving for good. */
export const LEAVE = define(`
redis.call('DEL', KEYS[1])
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if string.match(all[i + 1], '^(%S+)') == ARGV[1] then redis.call('HDEL', KEYS[2], all[i]) end
end
return 1
`);

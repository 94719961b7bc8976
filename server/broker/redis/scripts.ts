/**
 * The Lua scripts of the Redis broker. Each runs atomically in Redis, so a seq, the stream entry
 * and the pub/sub message it belongs to can never be split by another publisher.
 *
 * Keys (prefix `th:` by default):
 *   <p>epoch          string   the current epoch (SET NX by the first node)
 *   <p>seq            hash     topic -> last seq (also the registry of live topics, capped by MAX_TOPICS)
 *   <p>last           hash     topic -> ts of its last publish, for topics whose rule keeps no stream
 *   <p>pos:<epoch>    string   last global position (pos) given in that epoch, across all topics; deleted when the epoch rotates
 *   <p>s:<topic>      stream   history, entry id `<seq>-0`, fields j (wire JSON), t (ts), p (pos)
 *   <p>m:<topic>      channel  live messages: `<epoch> <seq> <ts> <pos> <origin> <json>`
 *   <p>t:<node>       channel  a node's own liveness tick: `<ts>`
 *   <p>node:<node>    string   a node's heartbeat, expires after the node TTL
 *   <p>nicks          hash     nick -> `<node> <connection>`
 *
 * The sources are the `.lua` files in `./scripts/` (each documents its KEYS, ARGV and reply).
 * Shared helpers live once in `./scripts/lib/`: a script that needs them says so in a header
 * line `-- uses: lib/now.lua lib/trim-age.lua`, and this loader prepends those files, in that
 * order, to the script's own text. Everything is read once, when this module is first imported;
 * the broker runs a script by SHA1 (EVALSHA) and sends the source only on NOSCRIPT (EVAL).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface Script {
  /** File name under `scripts/`, for errors and logs. */
  name: string;
  /** The full text sent with EVAL: the helpers it uses, then the script. */
  source: string;
  sha: string;
}

const DIR = new URL('./scripts/', import.meta.url);
const USES = /^-- uses:(.*)$/m;

const read = (path: string): string => readFileSync(new URL(path, DIR), 'utf8');

/** Load `scripts/<name>.lua` with the helpers its `-- uses:` line names. */
export function loadScript(name: string): Script {
  const own = read(`${name}.lua`);
  const uses = USES.exec(own)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
  for (const lib of uses) if (!lib.startsWith('lib/')) throw new Error(`scripts/${name}.lua uses ${lib}: helpers live in scripts/lib/`);
  const source = [...uses.map(read), own].join('\n');
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** One message: seq, stream entry and pub/sub message together (publish.lua). */
export const PUBLISH = loadScript('publish');
/** One HSCAN chunk of forgetting idle topics (sweep.lua). */
export const SWEEP = loadScript('sweep');
/** A page of a topic's history, with the epoch it belongs to (history.lua). */
export const HISTORY = loadScript('history');
/** Establish or rotate the epoch (epoch.lua). */
export const EPOCH = loadScript('epoch');
/** A node's heartbeat: liveness, nick reaping, epoch check, clock tick (heartbeat.lua). */
export const HEARTBEAT = loadScript('heartbeat');
/** Take a nick unless a live connection holds it (claim.lua). */
export const CLAIM = loadScript('claim');
/** Give a nick back if still its holder's (release.lua). */
export const RELEASE = loadScript('release');
/** Nicks whose node is alive (list-nicks.lua). */
export const LIST_NICKS = loadScript('list-nicks');
/** A node leaving for good (leave.lua). */
export const LEAVE = loadScript('leave');

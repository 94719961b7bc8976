/**
 * The query of a tap URL, `/ws/<patterns>?since=..&sinceTs=..&epoch=..&snapshot=..&maxHz=..`,
 * parsed strictly into the options app mode's `sub` takes, so a tap resumes the way an app-mode
 * client does: `since=<topic>:<seq>,<topic>:<seq>` (or `since=<seq>` for a tap of one exact
 * topic), `sinceTs=<ms>` for topics the tap had not seen, `epoch=<e>` from its welcome frame.
 */
import { MAX_SINCE_TOPICS, maxHzProblem } from '../../protocol/limits.ts';
import { isPattern, matches, topicError } from '../../protocol/topics.ts';
import type { SinceSpec } from '../../protocol/wire.ts';
import type { SubscribeOptions } from '../core/hub.ts';

const INT = /^\d{1,15}$/;
const PARAMS = ['since', 'sinceTs', 'epoch', 'snapshot', 'maxHz'];

/**
 * The subscribe options a tap of `patterns` asks for, or the problem with its query (one
 * sentence naming the parameter, for a 400). Every parameter may appear at most once.
 *
 * @example
 * parseTapQuery(new URLSearchParams('since=ticks.AAPL:120,ticks.MSFT:98&epoch=AbC&sinceTs=1764100000123'), ['ticks.*'])
 * // -> { since: { 'ticks.AAPL': 120, 'ticks.MSFT': 98 }, sinceTs: 1764100000123, epoch: 'AbC', ... }
 */
export function parseTapQuery(query: URLSearchParams, patterns: readonly string[]): SubscribeOptions | string {
  for (const name of PARAMS) if (query.getAll(name).length > 1) return `'${name}' given more than once`;
  const snapshot = intParam(query, 'snapshot');
  if (snapshot === null) return "'snapshot' must be a non-negative integer";
  const sinceTs = intParam(query, 'sinceTs');
  if (sinceTs === null) return "'sinceTs' must be a Unix time in milliseconds (a non-negative integer)";
  const epoch = query.get('epoch') ?? undefined;
  if (epoch === '') return "'epoch' must not be empty (it is the welcome frame's epoch)";
  const hz = query.get('maxHz');
  const maxHz = hz === null ? undefined : Number(hz);
  if (maxHz !== undefined && maxHzProblem(maxHz)) return maxHzProblem(maxHz)!;
  const since = sinceParam(query.get('since'), patterns);
  if (typeof since === 'string') return since;
  return { snapshot, since, sinceTs, epoch, maxHz };
}

/** undefined when absent, null when present but not a non-negative integer. */
function intParam(query: URLSearchParams, name: string): number | undefined | null {
  const text = query.get(name);
  if (text === null) return undefined;
  return INT.test(text) ? Number(text) : null;
}

/** `since`: a seq (one exact topic only) or `topic:seq` pairs, each topic matching a pattern. */
function sinceParam(text: string | null, patterns: readonly string[]): SinceSpec | undefined | string {
  if (text === null) return undefined;
  if (INT.test(text)) {
    if (patterns.length === 1 && !isPattern(patterns[0])) return Number(text);
    return "'since=<seq>' is for a tap of one exact topic; resume a pattern tap with since=<topic>:<seq>,<topic>:<seq>";
  }
  const entries = text.split(',');
  if (entries.length > MAX_SINCE_TOPICS) return `'since' lists more than ${MAX_SINCE_TOPICS} topics; resume with fewer (or with sinceTs)`;
  const since: Record<string, number> = Object.create(null); // a topic may be named __proto__
  for (const entry of entries) {
    const colon = entry.lastIndexOf(':');
    if (colon < 0) return `'since' entry '${clip(entry)}' is not <topic>:<seq>`;
    const topic = entry.slice(0, colon);
    const seq = entry.slice(colon + 1);
    const problem = topicError(topic, false);
    if (problem) return `'since' entry '${clip(entry)}': ${problem}`;
    if (!INT.test(seq)) return `'since' entry '${clip(entry)}': the seq must be a non-negative integer`;
    if (Object.hasOwn(since, topic)) return `'since' lists ${topic} more than once`;
    if (!patterns.some((p) => matches(p, topic))) return `'since' entry '${topic}' matches none of the tap's patterns (${patterns.join(',')})`;
    since[topic] = Number(seq);
  }
  return since;
}

const clip = (s: string): string => (s.length > 160 ? `${s.slice(0, 160)}...` : s);

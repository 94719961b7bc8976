/**
 * Parse and check one app-mode request. Returns the request or a refusal naming the problem,
 * with the request id when one could be read, so the client can match the error to its request.
 */
import { MAX_HISTORY_LIMIT, MAX_JSON_DEPTH, MAX_REQUEST_ID_LENGTH, MAX_SINCE_TOPICS, maxHzProblem } from '../../protocol/limits.ts';
import type { ClientRequest, ErrorCode, RequestId } from '../../protocol/wire.ts';

export type ParseResult = { ok: true; request: ClientRequest } | { ok: false; id?: RequestId; code: ErrorCode; message: string };

const OPS = new Set(['sub', 'unsub', 'pub', 'pubs', 'history', 'auth', 'ping']);

const fail = (code: ErrorCode, message: string, id?: RequestId): ParseResult => ({ ok: false, id, code, message });

const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Parse a text frame into a ClientRequest. Never throws. */
export function parseRequest(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail('bad_json', `malformed JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('bad_request', 'a request must be a JSON object');
  const r = value as Record<string, unknown>;
  const id = typeof r.id === 'number' || (typeof r.id === 'string' && r.id.length <= MAX_REQUEST_ID_LENGTH) ? (r.id as RequestId) : undefined;
  if (id === undefined) return fail('bad_request', "a request needs an 'id' (number, or string of at most 64 chars)");
  if (typeof r.op !== 'string') return fail('bad_request', "a request needs an 'op' string", id);
  if (!OPS.has(r.op)) return fail('unknown_op', `unknown op '${r.op.slice(0, 32)}' (known: ${[...OPS].join(', ')})`, id);
  switch (r.op) {
    case 'sub': {
      if (typeof r.topic !== 'string') return fail('bad_request', "sub needs a 'topic' string", id);
      if (r.snapshot !== undefined && !isNonNegInt(r.snapshot)) return fail('bad_request', "'snapshot' must be a non-negative integer", id);
      if (r.since !== undefined && !isSince(r.since)) return fail('bad_request', "'since' must be a seq or an object of topic to seq", id);
      if (typeof r.since === 'object' && Object.keys(r.since as object).length > MAX_SINCE_TOPICS) {
        return fail('bad_request', `'since' lists more than ${MAX_SINCE_TOPICS} topics; resume with fewer (or with sinceTs)`, id);
      }
      if (r.sinceTs !== undefined && !isNonNegInt(r.sinceTs)) return fail('bad_request', "'sinceTs' must be a Unix time in milliseconds", id);
      if (r.epoch !== undefined && typeof r.epoch !== 'string') return fail('bad_request', "'epoch' must be a string", id);
      if (r.maxHz !== undefined && maxHzProblem(r.maxHz)) return fail('bad_request', maxHzProblem(r.maxHz)!, id);
      return { ok: true, request: { op: 'sub', id, topic: r.topic, snapshot: r.snapshot as number | undefined, since: r.since as ClientRequestSince, sinceTs: r.sinceTs as number | undefined, epoch: r.epoch as string | undefined, maxHz: r.maxHz as number | undefined } };
    }
    case 'unsub':
      if (typeof r.topic !== 'string') return fail('bad_request', "unsub needs a 'topic' string", id);
      return { ok: true, request: { op: 'unsub', id, topic: r.topic } };
    case 'pub':
      if (typeof r.topic !== 'string') return fail('bad_request', "pub needs a 'topic' string", id);
      if (!('data' in r)) return fail('bad_request', "pub needs 'data'", id);
      if (tooDeep(r.data)) return fail('bad_request', DEPTH_PROBLEM, id);
      return { ok: true, request: { op: 'pub', id, topic: r.topic, data: r.data } };
    case 'pubs':
      // Items are checked one by one when published, so one bad message fails alone.
      if (!Array.isArray(r.messages)) return fail('bad_request', "pubs needs 'messages': an array of {topic, data}", id);
      return { ok: true, request: { op: 'pubs', id, messages: r.messages } };
    case 'history':
      if (typeof r.topic !== 'string') return fail('bad_request', "history needs a 'topic' string", id);
      if (r.since !== undefined && !isNonNegInt(r.since)) return fail('bad_request', "'since' must be a non-negative integer", id);
      if (r.limit !== undefined && !(isNonNegInt(r.limit) && r.limit <= MAX_HISTORY_LIMIT)) return fail('bad_request', `'limit' must be an integer from 0 to ${MAX_HISTORY_LIMIT}`, id);
      return { ok: true, request: { op: 'history', id, topic: r.topic, since: r.since as number | undefined, limit: r.limit as number | undefined } };
    case 'auth':
      if (typeof r.token !== 'string') return fail('bad_request', "auth needs a 'token' string", id);
      return { ok: true, request: { op: 'auth', id, token: r.token } };
    default:
      return { ok: true, request: { op: 'ping', id } };
  }
}

type ClientRequestSince = number | Record<string, number> | undefined;

function isSince(v: unknown): boolean {
  if (isNonNegInt(v)) return true;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v).every(isNonNegInt);
}

/** The refusal for data that `tooDeep` rejects (also used by the HTTP publish route). */
export const DEPTH_PROBLEM = `'data' is nested deeper than ${MAX_JSON_DEPTH} levels; flatten it`;

/**
 * True if `value` nests objects/arrays deeper than MAX_JSON_DEPTH. The recursion stops at that
 * depth, so hostile input cannot overflow the call stack (at most MAX_JSON_DEPTH + 1 frames), and
 * it allocates nothing (it runs on every publish). Cost is bounded by the payload size (MAX_PAYLOAD).
 */
export function tooDeep(value: unknown): boolean {
  return typeof value === 'object' && value !== null && deeperThan(value, 1);
}

function deeperThan(v: object, depth: number): boolean {
  if (depth > MAX_JSON_DEPTH) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const child: unknown = v[i];
      if (typeof child === 'object' && child !== null && deeperThan(child, depth + 1)) return true;
    }
    return false;
  }
  for (const key in v) {
    const child: unknown = (v as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && deeperThan(child, depth + 1)) return true;
  }
  return false;
}

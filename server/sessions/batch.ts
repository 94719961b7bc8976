/**
 * Batch publishing, shared by the app-mode `pubs` op and `POST /api/publish`: many messages in one
 * request, one reply with a result per message in the same order. Each message is checked on its
 * own, so one bad message gets its own error and the others are still published.
 */
import { HubError } from '../../protocol/errors.ts';
import type { PublishBatchResult } from '../../protocol/wire.ts';
import { tsText, type Envelope } from '../broker/broker.ts';
import { checkPublish, type Principal } from '../core/principal.ts';
import type { Connection } from '../core/connection.ts';
import type { Hub } from '../core/hub.ts';
import { DEPTH_PROBLEM, tooDeep } from './parse.ts';
import type { ScannedMessages } from './publish-scan.ts';

type BatchResult = PublishBatchResult;

/** The reply to a whole batch: `results[i]` belongs to `messages[i]`; `failed` counts the errors. */
export interface BatchReply {
  results: BatchResult[];
  failed: number;
}

/**
 * Null if `messages` is an acceptable batch (a non-empty array of at most `maxMessages`), else
 * the refusal for the whole request, naming MAX_BATCH_MESSAGES.
 */
export function batchProblem(messages: unknown, maxMessages: number): HubError | null {
  if (!Array.isArray(messages)) return new HubError('bad_request', "a batch needs 'messages': an array of {topic, data}");
  if (messages.length === 0) return new HubError('bad_request', "'messages' is empty");
  if (messages.length > maxMessages) {
    return new HubError('payload_too_large', `${messages.length} messages in one batch; at most ${maxMessages} (MAX_BATCH_MESSAGES)`);
  }
  return null;
}

/**
 * The checked topic of one batch item (which then has a `data`), or the HubError that refuses it.
 * `allowed` is a topic this principal was already allowed in this batch: a producer's batch
 * mostly repeats a few topics, and the principal cannot change within one.
 */
function checkItem(item: unknown, principal: Principal, allowed: string | null): string {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new HubError('bad_request', 'a batch message must be an object {topic, data}');
  const { topic, data } = item as Record<string, unknown>;
  if (typeof topic !== 'string') throw new HubError('bad_request', "a batch message needs a 'topic' string");
  if (!('data' in item)) throw new HubError('bad_request', "a batch message needs 'data'");
  if (tooDeep(data)) throw new HubError('bad_request', DEPTH_PROBLEM);
  return topic === allowed ? topic : checkPublish(topic, principal);
}

/**
 * Publishes `messages` (already checked by `batchProblem`) in array order, each item's `data` as
 * `dataTexts[i]` (data-text.ts `itemDataTexts` of the request). A message the hub can
 * publish synchronously (`Hub#publishJsonNow`: memory broker, topic not routed to a service) is
 * published on the spot; the others (Redis, chat) are handed to `Hub#publishJson` in turn, each
 * before the next message is looked at, so messages to one topic get ascending seqs in the order
 * given. Returns the reply itself when every message was settled in this turn, else a promise of
 * it. Unexpected errors are passed to `onInternal` and reported as `internal`.
 */
export function publishBatch(
  hub: Hub,
  principal: Principal,
  messages: readonly unknown[],
  dataTexts: ReadonlyArray<string | undefined>,
  onInternal: (err: unknown) => void,
  origin?: Connection,
): BatchReply | Promise<BatchReply> {
  const results: Array<BatchResult | Promise<BatchResult>> = new Array(messages.length);
  let waiting = false;
  let allowed: string | null = null;
  for (let i = 0; i < messages.length; i++) {
    const item = messages[i];
    try {
      const topic = checkItem(item, principal, allowed);
      allowed = topic;
      const json = dataTexts[i]!; // checkItem saw a `data`
      const env = hub.publishJsonNow(topic, json, origin);
      if (env !== null) results[i] = published(env);
      else {
        results[i] = hub.publishJson(topic, json, origin).then(published, (err: unknown) => refusal(err, onInternal));
        waiting = true;
      }
    } catch (err) {
      results[i] = refusal(err, onInternal);
    }
  }
  if (!waiting) return replyOf(results as BatchResult[]);
  return Promise.all(results).then(replyOf);
}

/**
 * A batch read by publish-scan.ts, published synchronously in array order: the reply's fields as
 * batchReplyFields would write them for publishBatch's results, built as the messages go (no
 * result object per message). The caller has checked `Hub#publishesNow` for every topic.
 */
export function publishScanned(hub: Hub, principal: Principal, { topics, data }: ScannedMessages, onInternal: (err: unknown) => void, origin?: Connection): string {
  let json = '"results":[';
  let failed = 0;
  let allowed: string | null = null;
  for (let i = 0; i < topics.length; i++) {
    if (i > 0) json += ',';
    try {
      const topic: string = topics[i] === allowed ? allowed : checkPublish(topics[i], principal);
      allowed = topic;
      const env = hub.publishJsonNow(topic, data[i], origin);
      if (env === null) throw new Error(`'${topic}' cannot be published synchronously`); // the caller's check failed
      json += publishedText(env.seq, env.ts);
    } catch (err) {
      json += resultText(refusal(err, onInternal));
      failed++;
    }
  }
  return `${json}],"failed":${failed}`;
}

/**
 * `"results":[...],"failed":N`, the reply's fields as JSON text (the `pubs` ok and the HTTP body
 * wrap them), built by hand: a published message's result is two numbers, and a stringify of a
 * thousand small objects costs more than the batch's own bookkeeping.
 */
export function batchReplyFields(reply: BatchReply): string {
  let json = '"results":[';
  const { results } = reply;
  for (let i = 0; i < results.length; i++) {
    if (i > 0) json += ',';
    json += resultText(results[i]);
  }
  return `${json}],"failed":${reply.failed}`;
}

const resultText = (r: BatchResult): string =>
  'error' in r ? `{"error":{"code":${JSON.stringify(r.error.code)},"message":${JSON.stringify(r.error.message)}}}` : publishedText(r.seq, r.ts);

const publishedText = (seq: number, ts: number): string => `{"seq":${seq},"ts":${tsText(ts)}}`;

const published = (env: Envelope): BatchResult => ({ seq: env.seq, ts: env.ts });

function replyOf(results: BatchResult[]): BatchReply {
  let failed = 0;
  for (const r of results) if ('error' in r) failed++;
  return { results, failed };
}

function refusal(err: unknown, onInternal: (err: unknown) => void): BatchResult {
  if (err instanceof HubError) return { error: { code: err.code, message: err.message } };
  onInternal(err);
  return { error: { code: 'internal', message: 'internal error' } };
}

/**
 * Batch publishing, shared by the app-mode `pubs` op and `POST /api/publish`: many messages in one
 * request, one reply with a result per message in the same order. Each message is checked on its
 * own, so one bad message gets its own error and the others are still published.
 */
import { HubError } from '../../protocol/errors.ts';
import type { PublishBatchResult } from '../../protocol/wire.ts';
import { checkPublish, type Principal } from '../core/principal.ts';
import type { Connection } from '../core/connection.ts';
import type { Hub } from '../core/hub.ts';
import { DEPTH_PROBLEM, tooDeep } from './parse.ts';

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

/** The checked topic and data of one batch item, or the HubError that refuses it. */
function checkItem(item: unknown, principal: Principal): { topic: string; data: unknown } {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new HubError('bad_request', 'a batch message must be an object {topic, data}');
  const { topic, data } = item as Record<string, unknown>;
  if (typeof topic !== 'string') throw new HubError('bad_request', "a batch message needs a 'topic' string");
  if (!('data' in item)) throw new HubError('bad_request', "a batch message needs 'data'");
  if (tooDeep(data)) throw new HubError('bad_request', DEPTH_PROBLEM);
  return { topic: checkPublish(topic, principal), data };
}

/**
 * Publishes `messages` (already checked by `batchProblem`) in array order: every publish is handed
 * to the broker before the first one is awaited, so messages to one topic get ascending seqs in
 * the order given. Unexpected errors are passed to `onInternal` and reported as `internal`.
 */
export async function publishBatch(
  hub: Hub,
  principal: Principal,
  messages: readonly unknown[],
  onInternal: (err: unknown) => void,
  origin?: Connection,
): Promise<BatchReply> {
  const pending: Promise<BatchResult>[] = [];
  for (const item of messages) {
    let published: Promise<BatchResult>;
    try {
      const { topic, data } = checkItem(item, principal);
      published = hub.publish(topic, data, origin).then((env) => ({ seq: env.seq, ts: env.ts }), (err: unknown) => refusal(err, onInternal));
    } catch (err) {
      published = Promise.resolve(refusal(err, onInternal));
    }
    pending.push(published);
  }
  const results = await Promise.all(pending);
  let failed = 0;
  for (const r of results) if ('error' in r) failed++;
  return { results, failed };
}

function refusal(err: unknown, onInternal: (err: unknown) => void): BatchResult {
  if (err instanceof HubError) return { error: { code: err.code, message: err.message } };
  onInternal(err);
  return { error: { code: 'internal', message: 'internal error' } };
}

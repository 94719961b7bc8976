/**
 * Replay, stitched to live delivery: what a subscription with `snapshot`, `since` or `sinceTs`
 * gets before live messages. While it runs, live messages of the subscription wait in its
 * `replayBuffer`; afterwards they follow, minus those the replay already sent, so the client
 * sees every message once, in order. A `since` that cannot be honoured (another epoch, trimmed)
 * gets a `reset` frame and a fresh snapshot instead. (centrifuge's recovery/sync.go, the idea.)
 */
import type { ResetFrame, SinceSpec } from '../../protocol/wire.ts';
import { isPattern, matches } from '../../protocol/topics.ts';
import type { Broker, Envelope, HistoryPage } from '../broker/broker.ts';
import type { Connection, Subscription } from './connection.ts';

export interface ReplayOptions {
  snapshot?: number;
  since?: SinceSpec;
  /** Replay topics matching the pattern that `since` does not list, from this hub time (ms). */
  sinceTs?: number;
  epoch?: string;
}

export interface ReplayDeps {
  broker: Broker;
  /** Replays pause for the socket whenever half of this is queued. */
  outboxLimitBytes: number;
  /** The hub's one enqueue path: `replayed` messages must never be dropped; buffered live ones go as live. */
  enqueue(sub: Subscription, env: Envelope, replayed: boolean): void;
}

export const wantsReplay = (o: ReplayOptions): boolean => (o.snapshot ?? 0) > 0 || o.since !== undefined || o.sinceTs !== undefined;

/** Send `sub` its history as asked, then what was buffered meanwhile; ends with live delivery. */
export async function replay(sub: Subscription, options: ReplayOptions, deps: ReplayDeps): Promise<void> {
  const { conn } = sub;
  const { broker } = deps;
  const sent = new Map<string, number>();
  const since = options.since;
  const topics = new Set(isPattern(sub.pattern) ? await broker.topics(sub.pattern) : [sub.pattern]);
  if (since !== undefined && typeof since === 'object') {
    for (const t of Object.keys(since)) if (matches(sub.pattern, t)) topics.add(t);
  }
  const epochOk = options.epoch === undefined || options.epoch === broker.epoch;
  for (const topic of topics) {
    if (conn.closed) return;
    const after = typeof since === 'number' ? since : since?.[topic];
    let page: HistoryPage | null;
    if (after !== undefined) {
      page = epochOk ? await broker.history(topic, { since: after }) : null;
      // The epoch can change while running (Redis lost its data): the page says which it is.
      if (page && options.epoch !== undefined && page.epoch !== options.epoch) page = null;
      if (!page || page.truncated || after > page.lastSeq) {
        sendReset(conn, broker.epoch, topic, page ? 'trimmed' : 'epoch');
        page = await broker.history(topic, { limit: options.snapshot });
      } else {
        sent.set(topic, after); // the client has these already, whichever way they come
      }
    } else if (options.sinceTs !== undefined) {
      // In another epoch every retained message is one the client cannot have seen.
      page = epochOk ? await historySinceTs(broker, conn, topic, options.sinceTs) : await broker.history(topic, {});
    } else {
      page = await broker.history(topic, { limit: options.snapshot ?? 0 });
    }
    for (const env of page.messages) {
      deps.enqueue(sub, env, true);
      sent.set(topic, env.seq);
    }
    // Pace big replays by the socket, so they never blow the outbox bound.
    if (conn.outbox.depth > deps.outboxLimitBytes / 2) await conn.drained();
  }
  const buffered = sub.replayBuffer ?? [];
  sub.replayBuffer = null;
  sub.floor = sent.size > 0 ? sent : null;
  for (const env of buffered) {
    if (env.seq <= (sent.get(env.topic) ?? 0)) continue; // already part of the replay
    deps.enqueue(sub, env, false);
  }
}

/**
 * Messages of a topic the client never saw, published at or after `sinceTs`. If the oldest
 * retained message is newer than that and is not the topic's first, some may have been
 * trimmed: say so.
 */
async function historySinceTs(broker: Broker, conn: Connection, topic: string, sinceTs: number): Promise<HistoryPage> {
  const page = await broker.history(topic, {});
  const oldest = page.messages[0];
  if (oldest && oldest.seq > 1 && oldest.ts > sinceTs) sendReset(conn, broker.epoch, topic, 'trimmed');
  return { ...page, messages: page.messages.filter((m) => m.ts >= sinceTs) };
}

function sendReset(conn: Connection, epoch: string, topic: string, reason: ResetFrame['reason']): void {
  const reset: ResetFrame = { op: 'reset', topic, epoch, reason };
  conn.sendJson(reset);
}

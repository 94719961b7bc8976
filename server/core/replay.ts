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
  goLive(sub, sent, deps);
}

/**
 * End a subscription's buffering: what was buffered meanwhile follows, minus what a replay sent
 * (`sent`: per topic, the highest seq the client has), then live delivery. A fresh subscription
 * buffers too, from the moment it is registered until its acknowledgement (welcome, `ok`) is queued.
 */
export function goLive(sub: Subscription, sent: Map<string, number>, deps: ReplayDeps): void {
  const buffered = sub.replayBuffer ?? [];
  sub.replayBuffer = null;
  sub.floor = sent.size > 0 ? sent : null;
  for (const env of buffered) {
    if (env.seq <= (sent.get(env.topic) ?? 0)) continue; // already part of the replay
    deps.enqueue(sub, env, false);
  }
}

/** A resume from a global position (an SSE stream's `Last-Event-ID`). */
export interface ResumeOptions {
  /** The client has every message of the patterns' topics up to this pos. */
  afterPos: number;
  /** The epoch that pos belongs to. */
  epoch: string;
  /** After a `reset` (another epoch), this many recent messages per topic. */
  snapshot?: number;
}

/**
 * Resume a connection's subscriptions (one per pattern, all buffering live messages) from a global
 * position: every retained message of their topics with a greater pos, merged across topics in pos
 * order, then what was buffered meanwhile (in pos order, minus what the replay sent). A topic is
 * replayed once, under the first pattern that matches it, as live delivery does. Another epoch: a
 * `reset` per topic (reason `epoch`) and the snapshot asked for. A topic whose oldest retained
 * message is newer than the position and not its first may have lost messages after it: `reset`
 * (reason `trimmed`) and everything it retains after the position.
 */
export async function replayAfter(subs: readonly Subscription[], options: ResumeOptions, deps: ReplayDeps): Promise<void> {
  if (subs.length === 0) return;
  const conn = subs[0].conn;
  const { broker } = deps;
  const { afterPos } = options;
  const owner = new Map<string, Subscription>();
  for (const sub of subs) {
    for (const topic of isPattern(sub.pattern) ? await broker.topics(sub.pattern) : [sub.pattern]) if (!owner.has(topic)) owner.set(topic, sub);
  }
  const sent = new Map<string, number>();
  const pending: Envelope[] = [];
  for (const topic of owner.keys()) {
    if (conn.closed) return;
    let page: HistoryPage | null = options.epoch === broker.epoch ? await broker.history(topic, {}) : null;
    if (page && page.epoch !== options.epoch) page = null; // the epoch changed while running
    if (!page) {
      sendReset(conn, broker.epoch, topic, 'epoch');
      pending.push(...(await broker.history(topic, { limit: options.snapshot ?? 0 })).messages);
      continue;
    }
    const oldest = page.messages[0];
    if (oldest && oldest.pos > afterPos && oldest.seq > 1) sendReset(conn, broker.epoch, topic, 'trimmed');
    for (const env of page.messages) if (env.pos > afterPos) pending.push(env);
    const newest = page.messages.at(-1);
    if (newest) sent.set(topic, newest.seq); // the client has the rest already
  }
  pending.sort(byPos);
  for (const env of pending) {
    if (conn.closed) return;
    deps.enqueue(owner.get(env.topic)!, env, true);
    sent.set(env.topic, Math.max(sent.get(env.topic) ?? 0, env.seq));
    if (conn.outbox.depth > deps.outboxLimitBytes / 2) await conn.drained();
  }
  const buffered: [Subscription, Envelope][] = [];
  for (const sub of subs) {
    for (const env of sub.replayBuffer ?? []) buffered.push([sub, env]);
    sub.replayBuffer = null;
    const floor = new Map([...sent].filter(([topic]) => owner.get(topic) === sub));
    sub.floor = floor.size > 0 ? floor : null;
  }
  buffered.sort((x, y) => byPos(x[1], y[1]));
  for (const [sub, env] of buffered) {
    if (env.seq <= (sent.get(env.topic) ?? 0)) continue; // already part of the replay
    deps.enqueue(sub, env, false);
  }
}

const byPos = (a: Envelope, b: Envelope): number => a.pos - b.pos;

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

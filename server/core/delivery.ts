/**
 * Fan-out and the one way into a subscription. A message is framed once (and rendered once per
 * renderer, and compressed once for the connections that negotiated shared deflate) and the same
 * Buffer is appended to every matching connection's outbox; nothing per subscriber but the append.
 * Every message a subscription receives (live, maxHz release, replay, buffered during a replay)
 * goes through `enqueue`, which applies the topic's overflow policy and counts the delivery once,
 * per topic too.
 */
import type { Logger } from 'pino';
import type { HubConfig, OverflowPolicy } from '../config.ts';
import { flat, type Broker, type Envelope } from '../broker/broker.ts';
import { matches } from '../../protocol/topics.ts';
import { CloseCode, type Connection, type Renderer, type Subscription } from './connection.ts';
import { frameText } from './outbox.ts';
import { sseMessage } from './sse-frame.ts';
import { SubscriptionIndex } from './subscription-index.ts';
import { Throttle } from './throttle.ts';
import type { TopicCounter, TopicStats } from './topic-stats.ts';

/** Live messages a subscription may buffer while its replay is being sent. */
const MAX_REPLAY_BUFFER = 100_000;

/** What delivery counts, hub-wide. */
export interface DeliveryCounters {
  deliveries: number;
  slowConsumerCloses: number;
}

export class Delivery {
  readonly index = new SubscriptionIndex<Subscription>();
  readonly throttle: Throttle;
  private readonly policyCache = new Map<string, OverflowPolicy>();
  private stamp = 0;

  constructor(
    private readonly config: HubConfig,
    private readonly counters: DeliveryCounters,
    private readonly topicStats: TopicStats,
    log: Logger,
    /** Whose epoch SSE ids carry. */
    private readonly broker: Pick<Broker, 'epoch'>,
  ) {
    this.throttle = new Throttle(log, config.outboxLimitBytes, {
      release: (sub, topic, frame) => this.enqueue(sub, topic, frame, false),
      overBudget: (sub) => {
        counters.slowConsumerCloses++;
        sub.conn.close(CloseCode.policy, `maxHz holds more than OUTBOX_LIMIT_BYTES (${config.outboxLimitBytes})`);
      },
    });
  }

  /**
   * A message from the broker, to every subscription whose pattern matches its topic. Framed at
   * most once per framing kind (the WebSocket frame; the SSE event, sse-frame.ts), picked per
   * subscriber with one field compare.
   */
  deliver(env: Envelope): void {
    const counter = this.topicStats.count(env.topic);
    const subs = this.index.match(env.topic);
    if (subs.length === 0) return;
    const stamp = ++this.stamp;
    let frame: Buffer | undefined;
    let deflated: Buffer | undefined;
    let sse: Buffer | undefined;
    let renderedBy: Renderer | null = null;
    let rendered: Buffer | undefined;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      const conn = sub.conn;
      if (conn.lastStamp === stamp) continue; // already queued via an overlapping pattern
      conn.lastStamp = stamp;
      if (sub.replayBuffer) {
        this.bufferDuringReplay(sub, env);
        continue;
      }
      if (sub.floor && this.belowFloor(sub, env)) continue;
      if (sub.skipOwn && env.origin === conn.id) continue;
      let out: Buffer;
      if (sub.render) {
        if (renderedBy !== sub.render) {
          renderedBy = sub.render;
          rendered = frameText(sub.render(env)); // once per message per renderer, like the JSON frame
        }
        out = rendered!;
      } else if (conn.framing === 'sse') {
        out = sse ??= sseMessage(env, this.broker.epoch); // once per message for every SSE stream
      } else if (conn.deflate) {
        // One deflate per message, shared by every connection that negotiated it; small ones stay plain.
        out = deflated ??= conn.deflate.message(env) ?? (frame ??= frameText(env.json));
      } else {
        out = frame ??= frameText(env.json);
      }
      if (sub.throttle && !this.throttle.admits(sub, env.topic, out)) continue;
      this.enqueue(sub, env.topic, out, false, counter);
    }
  }

  /** A replayed message (never dropped), or a live one buffered during the replay (as live). */
  enqueueEnvelope(sub: Subscription, env: Envelope, replayed: boolean): void {
    if (!replayed && sub.skipOwn && env.origin === sub.conn.id) return;
    const frame = sub.render ? frameText(sub.render(env)) : this.frameOf(sub.conn, env);
    if (!replayed && sub.throttle && !this.throttle.admits(sub, env.topic, frame)) return;
    this.enqueue(sub, env.topic, frame, replayed);
  }

  /** A message framed for one connection, off the fan-out path (replays). */
  private frameOf(conn: Connection, env: Envelope): Buffer {
    if (conn.framing === 'sse') return sseMessage(env, this.broker.epoch);
    return conn.deflate?.message(env) ?? frameText(env.json);
  }

  /** Forget a subscription: no more deliveries, no maxHz state. */
  remove(sub: Subscription): void {
    this.index.remove(sub.pattern, sub);
    this.throttle.drop(sub);
  }

  /**
   * The one way in. `replayed` frames must not be dropped (control path); the others go under the
   * topic's overflow policy. Counts the delivery, per topic too.
   */
  private enqueue(sub: Subscription, topic: string, frame: Buffer, replayed: boolean, counter?: TopicCounter): void {
    const conn = sub.conn;
    if (replayed) conn.sendFrame(frame);
    else if (conn.pushMessage(frame, topic, this.policyFor(topic)) === 'overflow') this.counters.slowConsumerCloses++;
    this.counters.deliveries++;
    if (counter) counter.deliveries++;
    else this.topicStats.delivered(topic);
  }

  private policyFor(topic: string): OverflowPolicy {
    let policy = this.policyCache.get(topic);
    if (!policy) {
      policy = this.config.overflowPolicies.find((r) => matches(r.pattern, topic))?.policy ?? 'disconnect';
      if (this.policyCache.size > 10_000) this.policyCache.clear();
      this.policyCache.set(topic, policy);
    }
    return policy;
  }

  /** True if the replay already sent `env`; the first newer message of a topic lifts its floor. */
  private belowFloor(sub: Subscription, env: Envelope): boolean {
    const floor = sub.floor!.get(env.topic);
    if (floor === undefined) return false;
    if (env.seq <= floor) return true;
    sub.floor!.delete(env.topic);
    if (sub.floor!.size === 0) sub.floor = null;
    return false;
  }

  private bufferDuringReplay(sub: Subscription, env: Envelope): void {
    flat(env.json); // held until the replay ends, maybe with no one else having framed it
    sub.replayBuffer!.push(env);
    if (sub.replayBuffer!.length > MAX_REPLAY_BUFFER) {
      this.counters.slowConsumerCloses++;
      sub.conn.close(CloseCode.policy, 'slow consumer (replay)');
    }
  }
}

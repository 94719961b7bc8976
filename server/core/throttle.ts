/**
 * maxHz: at most `maxHz` messages per second per topic for a subscription, the latest value
 * winning. A throttled subscription keeps a ThrottleState per topic it sent within the last
 * 1/maxHz s; each state has exactly one entry in a DueQueue, at its `nextAt`. When due, the
 * latest held frame (if any) goes out through the hub's one enqueue path and the state is
 * scheduled again; with nothing held the state is forgotten. So the cost is per message and per
 * due send, never per held topic per tick. Held frames count toward the connection's
 * OUTBOX_LIMIT_BYTES: a subscription holding more is over budget.
 */
import type { Logger } from 'pino';
import type { Subscription, ThrottleState } from './connection.ts';
import { DueQueue } from './due-queue.ts';

/** What one throttled topic's state costs besides its held frame, counted toward the budget. */
const ENTRY_BYTES = 64;

interface Due {
  sub: Subscription;
  topic: string;
  state: ThrottleState;
}

export interface ThrottleHooks {
  /** Send a held frame now (the hub's enqueue path, which counts it). */
  release(sub: Subscription, topic: string, frame: Buffer): void;
  /** The connection holds more than the budget: the hub closes it. */
  overBudget(sub: Subscription): void;
}

export class Throttle {
  private readonly due: DueQueue<Due>;

  /** @param budgetBytes what one connection may hold back (OUTBOX_LIMIT_BYTES). */
  constructor(
    log: Pick<Logger, 'error'>,
    private readonly budgetBytes: number,
    private readonly hooks: ThrottleHooks,
  ) {
    this.due = new DueQueue(log, 'maxHz release', (d) => this.fire(d));
  }

  /** True if `frame` may go now; otherwise it is held back as the topic's latest value. */
  admits(sub: Subscription, topic: string, frame: Buffer): boolean {
    const state = sub.throttle!.get(topic);
    if (state) {
      const before = state.bytes;
      state.bytes += frame.length - (state.held?.length ?? 0);
      state.held = frame;
      sub.conn.throttledBytes += state.bytes - before;
      this.checkBudget(sub);
      return false;
    }
    const fresh: ThrottleState = { nextAt: performance.now() + 1000 / sub.maxHz, held: null, bytes: topic.length + ENTRY_BYTES };
    sub.throttle!.set(topic, fresh);
    sub.conn.throttledBytes += fresh.bytes;
    this.due.add(fresh.nextAt, { sub, topic, state: fresh });
    this.checkBudget(sub);
    return !sub.conn.closed;
  }

  /** Forget a subscription's state (its queue entries turn stale). */
  drop(sub: Subscription): void {
    if (!sub.throttle) return;
    for (const state of sub.throttle.values()) sub.conn.throttledBytes -= state.bytes;
    sub.throttle.clear();
  }

  clear(): void {
    this.due.clear();
  }

  private checkBudget(sub: Subscription): void {
    if (sub.conn.throttledBytes <= this.budgetBytes) return;
    this.hooks.overBudget(sub);
    this.drop(sub);
  }

  /** A throttled topic fell due: send what it holds, or forget it. */
  private fire({ sub, topic, state }: Due): void {
    const conn = sub.conn;
    if (conn.closed || conn.subs.get(sub.pattern) !== sub || sub.throttle?.get(topic) !== state) return; // stale
    const frame = state.held;
    if (!frame) {
      sub.throttle.delete(topic);
      conn.throttledBytes -= state.bytes;
      return;
    }
    state.held = null;
    conn.throttledBytes -= frame.length;
    state.bytes -= frame.length;
    state.nextAt = performance.now() + 1000 / sub.maxHz;
    this.due.add(state.nextAt, { sub, topic, state });
    this.hooks.release(sub, topic, frame);
  }
}

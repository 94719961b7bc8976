/**
 * Per-topic counters of one hub node: messages, deliveries and rate, for `$sys.stats`,
 * `/metrics`, `GET /api/topics` and `/topics`. Counters of idle topics are forgotten a bounded
 * slice at a time, and pages of the sorted topic list cost O(log n + page) while no topic comes
 * or goes, so neither many topics nor many listings stall the event loop.
 */
import type { RetentionRule } from '../config.ts';
import { forgetAfterMs } from '../broker/broker.ts';
import { MapSweeper } from '../broker/map-sweep.ts';
import { matches } from '../../protocol/topics.ts';

export interface TopicCounter {
  messages: number;
  deliveries: number;
  /** Messages in the current wall-clock second `second`, and in the one before. */
  second: number;
  thisSecond: number;
  lastSecond: number;
  /** When the last message came (ms), and how long the counter outlives it (the topic's retention). */
  lastAt: number;
  forgetAfterMs: number;
}

export interface TopicInfo {
  topic: string;
  subscribers: number;
  messages: number;
  /** Messages per second over the last second. */
  rate: number;
}

/** A page of topics: sorted by name; `next` is the `after` of the next page when there is one. */
export interface TopicQuery {
  /** Only topics starting with this. */
  prefix?: string;
  /** Only topics sorting after this one (the previous page's `next`). */
  after?: string;
  limit?: number;
}

export interface TopicPage {
  topics: TopicInfo[];
  /** Topics listed, all prefixes (this node's, or the cluster's with a shared broker). */
  total: number;
  next?: string;
}

/** Default and largest page (GET /api/topics). */
export const TOPIC_PAGE_DEFAULT = 500;
export const TOPIC_PAGE_MAX = 5000;

/** The sweep visits this many counters per `sweep()`. */
const SWEEP_BATCH = 5_000;

export class TopicStats {
  private readonly counts = new Map<string, TopicCounter>();
  private readonly sweeper = new MapSweeper(this.counts, (_, c) => Date.now() - c.lastAt >= c.forgetAfterMs, () => (this.sorted = null));
  /** The counters' keys sorted, built on demand; null after a topic came or went. */
  private sorted: string[] | null = null;

  /** @param retention decides how long an idle topic's counter is kept (as long as its history). */
  constructor(private readonly retention: RetentionRule[]) {}

  /** Count one message of `topic`; returns its counter (the caller adds the deliveries). */
  count(topic: string): TopicCounter {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    let c = this.counts.get(topic);
    if (!c) {
      const rule = this.retention.find((r) => matches(r.pattern, topic));
      const forget = forgetAfterMs(rule?.maxMessages ?? 0, (rule?.maxAgeSeconds ?? 0) * 1000);
      c = { messages: 0, deliveries: 0, second, thisSecond: 0, lastSecond: 0, lastAt: now, forgetAfterMs: forget };
      this.counts.set(topic, c);
      this.sorted = null;
    }
    if (c.second !== second) {
      c.lastSecond = c.second === second - 1 ? c.thisSecond : 0;
      c.thisSecond = 0;
      c.second = second;
    }
    c.messages++;
    c.thisSecond++;
    c.lastAt = now;
    return c;
  }

  /** Count a delivery outside fan-out (a maxHz release, a replay). */
  delivered(topic: string): void {
    const c = this.counts.get(topic);
    if (c) c.deliveries++;
  }

  /** One slice of forgetting idle counters (a guarded timer calls it). */
  sweep(): void {
    this.sweeper.step(SWEEP_BATCH);
  }

  get size(): number {
    return this.counts.size;
  }

  /** Raw counters, for metrics. */
  counters(): ReadonlyMap<string, Readonly<TopicCounter>> {
    return this.counts;
  }

  /** The counted topics, sorted (rebuilt only after a topic came or went). */
  sortedTopics(): readonly string[] {
    this.sorted ??= [...this.counts.keys()].sort();
    return this.sorted;
  }

  /**
   * One page of `keys` (sorted; by default the counted topics), with `subscribers(topic)` from the
   * caller's index and this node's counters, zeros for topics it has not counted.
   */
  page({ prefix = '', after, limit = TOPIC_PAGE_DEFAULT }: TopicQuery, subscribers: (topic: string) => number, keys: readonly string[] = this.sortedTopics()): TopicPage {
    const from = after !== undefined && after >= prefix ? after : prefix;
    let i = lowerBound(keys, from);
    if (after !== undefined && keys[i] === after) i++;
    const out: TopicInfo[] = [];
    const max = Math.min(Math.max(1, limit), TOPIC_PAGE_MAX);
    for (; i < keys.length && out.length < max && keys[i].startsWith(prefix); i++) {
      const c = this.counts.get(keys[i]);
      out.push({ topic: keys[i], subscribers: subscribers(keys[i]), messages: c?.messages ?? 0, rate: c ? rateOf(c) : 0 });
    }
    const more = i < keys.length && keys[i].startsWith(prefix);
    return more ? { topics: out, total: keys.length, next: out[out.length - 1].topic } : { topics: out, total: keys.length };
  }
}

/** Messages per second over the last full second (computed when read, so no timer walks every topic). */
function rateOf(c: TopicCounter): number {
  const second = Math.floor(Date.now() / 1000);
  if (c.second === second) return c.lastSecond;
  return c.second === second - 1 ? c.thisSecond : 0;
}

/** Index of the first key >= `key` in sorted `keys`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The outage backlog: what the simulator could not get to the hub (not connected, or sent and the
 * connection dropped before the reply), kept for the feeds where a hole matters and replayed on
 * reconnect. Ticks are not kept: a stale tick is worthless, the bar covering it is not. Nor is
 * the book: its readers see the gap in its seq and resync from the next snapshot.
 *
 * - `bars.<tf>.<SYM>`: one entry per topic and bar time, the latest version (the bar in progress
 *   is republished as trades arrive; only its last state is worth replaying). Drained oldest bar
 *   time first, so each bar topic sees non-decreasing bar times.
 * - `trades.<SYM>`: every trade, keyed by topic and trade id (a retry never appears twice), drained
 *   oldest first, so the tape and the bar volumes keep agreeing across an outage.
 * - `fills`: every fill, keyed and drained by fill id, so a retried fill never appears twice.
 * - `pnl`: only the latest snapshot.
 *
 * "Latest" is decided by the order in which the simulator produced the messages (`order`), not by
 * arrival here: a version sent before the outage and failed afterwards must not replace a newer
 * one backlogged meanwhile. Bounded: past the limit the oldest bar (or lowest fill id) goes first.
 */
import type { Bar, Fill, Trade } from '../protocol/feeds.ts';
import type { FeedPayload } from './simulator.ts';

export type BacklogKind = 'bar' | 'trade' | 'fill' | 'pnl';

/** Which backlog a topic belongs to; null for topics that are dropped on outage (ticks, others). */
export function backlogKind(topic: string): BacklogKind | null {
  if (topic.startsWith('bars.')) return 'bar';
  if (topic.startsWith('trades.')) return 'trade';
  if (topic === 'fills') return 'fill';
  if (topic === 'pnl') return 'pnl';
  return null;
}

export interface BacklogLimit {
  /** Bars kept over all symbols (one per symbol and second). Default 3600. */
  bars: number;
  /** Trades kept over all symbols. Default 20000 (~11 minutes of the default feed). */
  trades: number;
  /** Fills kept. Default 10000. */
  fills: number;
}

export const DEFAULT_BACKLOG_LIMIT: Readonly<BacklogLimit> = Object.freeze({ bars: 3600, trades: 20_000, fills: 10_000 });

export interface BacklogEntry {
  topic: string;
  data: FeedPayload;
  /** Production order of the message (increasing over the run); newer versions win. */
  order: number;
}

/** Always `added = size + taken + evicted + superseded`. */
export interface BacklogCounts {
  /** Messages handed to `add` for a backlogged topic. */
  added: number;
  /** Messages that will never be sent because a newer version or a copy is kept (or was sent). */
  superseded: number;
  /** Entries dropped, oldest first, because the backlog was full. */
  evicted: number;
  /** Entries handed out by `take`. */
  taken: number;
}

/** Entries kept in `compare` order and findable by key. */
class SortedKeyed<K> {
  private readonly byKey = new Map<K, BacklogEntry>();
  private readonly list: BacklogEntry[] = [];

  constructor(
    private readonly keyOf: (e: BacklogEntry) => K,
    private readonly compare: (a: BacklogEntry, b: BacklogEntry) => number,
  ) {}

  get size(): number {
    return this.list.length;
  }

  get(key: K): BacklogEntry | undefined {
    return this.byKey.get(key);
  }

  /** Replace an entry in place; the sort key must be the same. */
  replace(old: BacklogEntry, entry: BacklogEntry): void {
    const i = this.indexOf(old);
    this.list[i] = entry;
    this.byKey.set(this.keyOf(entry), entry);
  }

  insert(entry: BacklogEntry): void {
    this.byKey.set(this.keyOf(entry), entry);
    const last = this.list.at(-1);
    if (!last || this.compare(last, entry) <= 0) {
      this.list.push(entry); // the usual case: newer than everything kept
      return;
    }
    this.list.splice(this.upperBound(entry), 0, entry); // a failed in-flight message, older than some kept
  }

  /** Remove and return the first `n` entries. */
  shift(n: number): BacklogEntry[] {
    const out = this.list.splice(0, n);
    for (const e of out) this.byKey.delete(this.keyOf(e));
    return out;
  }

  private indexOf(entry: BacklogEntry): number {
    const i = this.upperBound(entry) - 1;
    if (this.list[i] === entry) return i;
    return this.list.indexOf(entry); // equal sort keys: cannot happen for distinct keys, but be safe
  }

  /** First index whose entry sorts after `entry`. */
  private upperBound(entry: BacklogEntry): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.list[mid], entry) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class OutageBacklog {
  readonly limit: Readonly<BacklogLimit>;
  private readonly bars = new SortedKeyed<string>(
    barKey,
    (a, b) => (a.data as Bar).time - (b.data as Bar).time || a.topic.localeCompare(b.topic),
  );
  private readonly trades = new SortedKeyed<string>(
    (e) => `${e.topic}\u0000${(e.data as Trade).id}`,
    (a, b) => (a.data as Trade).time - (b.data as Trade).time || a.topic.localeCompare(b.topic) || (a.data as Trade).id - (b.data as Trade).id,
  );
  private readonly fills = new SortedKeyed<number>(
    (e) => (e.data as Fill).id,
    (a, b) => (a.data as Fill).id - (b.data as Fill).id,
  );
  private pnl: BacklogEntry | null = null;
  private readonly counts: BacklogCounts = { added: 0, superseded: 0, evicted: 0, taken: 0 };

  constructor(limit: Partial<BacklogLimit> = {}) {
    const l = { ...DEFAULT_BACKLOG_LIMIT, ...limit };
    for (const k of ['bars', 'trades', 'fills'] as const) {
      if (!(Number.isInteger(l[k]) && l[k] >= 0)) throw new RangeError(`backlogLimit.${k} must be an integer >= 0, got ${l[k]}`);
    }
    this.limit = Object.freeze(l);
  }

  /** Entries waiting: bars + trades + fills + pnl. */
  get size(): number {
    return this.bars.size + this.trades.size + this.fills.size + (this.pnl ? 1 : 0);
  }

  sizes(): { bars: number; trades: number; fills: number; pnl: number } {
    return { bars: this.bars.size, trades: this.trades.size, fills: this.fills.size, pnl: this.pnl ? 1 : 0 };
  }

  stats(): BacklogCounts {
    return { ...this.counts };
  }

  /**
   * Keep a message for replay. Returns false if the topic is not backlogged (the caller drops it);
   * true otherwise, including when the message was redundant (older than what is kept) or was
   * evicted at once because the backlog is full of newer data.
   */
  add(topic: string, data: FeedPayload, order: number): boolean {
    const kind = backlogKind(topic);
    if (kind === null) return false;
    this.counts.added++;
    const entry: BacklogEntry = { topic, data, order };
    if (kind === 'pnl') {
      if (this.pnl) this.counts.superseded++; // one of the two snapshots goes
      if (!this.pnl || this.pnl.order < order) this.pnl = entry;
      return true;
    }
    const set = { bar: this.bars, trade: this.trades, fill: this.fills }[kind] as SortedKeyed<string | number>;
    const limit = { bar: this.limit.bars, trade: this.limit.trades, fill: this.limit.fills }[kind];
    const key = kind === 'bar' ? barKey(entry) : kind === 'trade' ? `${topic}\u0000${(data as Trade).id}` : (data as Fill).id;
    const old = set.get(key);
    if (old) {
      this.counts.superseded++;
      // A bar: keep the newest version. Trades and fills never change: a second copy is a retry.
      if (kind === 'bar' && old.order < order) set.replace(old, entry);
      return true;
    }
    set.insert(entry);
    if (set.size > limit) this.counts.evicted += set.shift(set.size - limit).length;
    return true;
  }

  /** Remove and return up to `n` entries in replay order: bars oldest first, trades oldest first, fills by id, then pnl. */
  take(n: number): BacklogEntry[] {
    const out: BacklogEntry[] = [];
    if (n <= 0) return out;
    out.push(...this.bars.shift(n));
    if (out.length < n) out.push(...this.trades.shift(n - out.length));
    if (out.length < n) out.push(...this.fills.shift(n - out.length));
    if (out.length < n && this.pnl) {
      out.push(this.pnl);
      this.pnl = null;
    }
    this.counts.taken += out.length;
    return out;
  }
}

function barKey(e: BacklogEntry): string {
  return `${e.topic}\u0000${(e.data as Bar).time}`;
}

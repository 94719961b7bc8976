/**
 * Keeping an L2 order book from `book.<SYM>` / `book.snapshot.<SYM>` messages (protocol/feeds.ts),
 * the same code in the dashboard, the tests and any other reader. Pure: no I/O, no clock.
 *
 * The rules (docs/protocol.md, "Order book"):
 * - A snapshot replaces the book (after its checksum is verified), unless it is an older copy
 *   (lower seq, no later time): a replay to ignore.
 * - An update applies only on the state just before it (`seq === book.seq + 1`); its checksum
 *   must then match the book. An update at or below the book's seq with no later time is a copy
 *   (replays after a resume): ignored.
 * - Anything else means the book can no longer be trusted: a gap (seq jumped: conflation,
 *   `maxHz`, a lost message), a checksum mismatch (a corrupt or misapplied update), or a feed that
 *   started over (lower seq with a later time: the simulator restarted). The book is dropped, and
 *   the outcome is `resync`: fetch the latest snapshot (history of `book.snapshot.<SYM>`, limit
 *   1) and pass it to `apply`. Updates arriving meanwhile are buffered (bounded) and applied on
 *   top of that snapshot, so nothing is lost between the two.
 *
 * A book is never silently wrong: either every level matches the publisher's (checksum) or
 * `synced` is false.
 */
import { crc32 } from './crc32.ts';
import type { BookLevel, BookMessage, BookSnapshot, BookUpdate } from './feeds.ts';

/** Most levels per side a message may carry (hostile input bound; the simulator sends 25). */
export const MAX_BOOK_LEVELS = 1000;

/** Updates kept while waiting for a snapshot; older ones go first (a resync then retries). */
export const DEFAULT_MAX_BUFFERED_UPDATES = 1000;

/**
 * The checksum of a book: CRC-32 (protocol/crc32.ts) of the text
 * `asks best first, each "price:size", joined by ","` + `|` + `bids the same way`, numbers written
 * as JavaScript's `String(n)` writes them (the same as the JSON the publisher sent). All levels
 * count, not only the top ones, so any difference anywhere is caught.
 *
 * @example bookChecksum([[99.5, 10]], [[100, 3]]) === crc32('100:3|99.5:10')
 */
export function bookChecksum(bids: readonly BookLevel[], asks: readonly BookLevel[]): number {
  return crc32(`${levelsText(asks)}|${levelsText(bids)}`);
}

function levelsText(levels: readonly BookLevel[]): string {
  let text = '';
  for (let i = 0; i < levels.length; i++) text += `${i ? ',' : ''}${levels[i][0]}:${levels[i][1]}`;
  return text;
}

/** A book message checked field by field; null when `data` is not one (never throws). */
export function parseBookMessage(data: unknown): BookMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const m = data as Record<string, unknown>;
  if (m.type !== 'snapshot' && m.type !== 'update') return null;
  if (typeof m.symbol !== 'string' || !Number.isSafeInteger(m.seq) || (m.seq as number) < 0) return null;
  if (typeof m.time !== 'number' || !Number.isFinite(m.time)) return null;
  if (!Number.isInteger(m.checksum) || (m.checksum as number) < 0 || (m.checksum as number) > 0xffffffff) return null;
  const snapshot = m.type === 'snapshot';
  if (!validLevels(m.bids, snapshot, -1) || !validLevels(m.asks, snapshot, 1)) return null;
  return m as unknown as BookMessage;
}

/**
 * Levels of one side: [price > 0, size >= 0] pairs; a snapshot's sizes are > 0 and its prices
 * strictly in book order (`direction` -1: falling, bids; 1: rising, asks).
 */
function validLevels(levels: unknown, snapshot: boolean, direction: -1 | 1): levels is BookLevel[] {
  if (!Array.isArray(levels) || levels.length > MAX_BOOK_LEVELS) return false;
  let previous: number | null = null;
  for (const level of levels) {
    if (!Array.isArray(level) || level.length !== 2) return false;
    const [price, size] = level as unknown[];
    if (typeof price !== 'number' || !Number.isFinite(price) || price <= 0) return false;
    if (typeof size !== 'number' || !Number.isFinite(size) || size < 0) return false;
    if (snapshot) {
      if (size === 0) return false;
      if (previous !== null && (price - previous) * direction <= 0) return false;
      previous = price;
    }
  }
  return true;
}

/**
 * Set one level of a side kept in book order (`direction` -1 for bids, 1 for asks): size 0 removes
 * the price, another size replaces or inserts it. Mutates `side`.
 */
export function setLevel(side: BookLevel[], price: number, size: number, direction: -1 | 1): void {
  let i = 0;
  while (i < side.length && (side[i][0] - price) * direction < 0) i++;
  const here = i < side.length && side[i][0] === price;
  if (size === 0) {
    if (here) side.splice(i, 1);
  } else if (here) {
    side[i] = [price, size];
  } else {
    side.splice(i, 0, [price, size]);
  }
}

export type ResyncReason = 'gap' | 'checksum' | 'restart';

/** What `OrderBook.apply` did with a message. */
export type BookOutcome =
  /** The book moved to the message's state (and its checksum matched). */
  | { kind: 'applied'; type: 'snapshot' | 'update' }
  /** Nothing changed: a copy of something already applied, a message of another symbol, or not a book message. */
  | { kind: 'ignored'; why: 'stale' | 'invalid' }
  /** No trusted book yet: the update waits for a snapshot. */
  | { kind: 'buffered' }
  /** The book was dropped (see the module comment): fetch the latest snapshot and `apply` it. */
  | { kind: 'resync'; why: ResyncReason };

export interface OrderBookOptions {
  /** Updates buffered while waiting for a snapshot. Default DEFAULT_MAX_BUFFERED_UPDATES. */
  maxBuffered?: number;
}

export interface OrderBookCounts {
  snapshots: number;
  updates: number;
  ignored: number;
  resyncs: number;
}

/** One symbol's book as a reader keeps it. */
export class OrderBook {
  private bidLevels: BookLevel[] = [];
  private askLevels: BookLevel[] = [];
  /** State of the trusted book; null while there is none (start, or after a resync). */
  private at: { seq: number; time: number } | null = null;
  /** Newest state ever applied: tells a replayed copy from a feed that started over. */
  private newest: { seq: number; time: number } | null = null;
  private buffered: BookUpdate[] = [];
  private readonly maxBuffered: number;
  private readonly counts: OrderBookCounts = { snapshots: 0, updates: 0, ignored: 0, resyncs: 0 };

  constructor(
    readonly symbol: string,
    options: OrderBookOptions = {},
  ) {
    this.maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED_UPDATES;
    if (!(Number.isInteger(this.maxBuffered) && this.maxBuffered >= 0)) throw new RangeError(`maxBuffered must be an integer >= 0, got ${this.maxBuffered}`);
  }

  /** True while the book is exactly the publisher's at `seq`. */
  get synced(): boolean {
    return this.at !== null;
  }

  /** Seq of the book's state, or null while not synced. */
  get seq(): number | null {
    return this.at?.seq ?? null;
  }

  /** Time (Unix ms) of the book's state, or null while not synced. */
  get time(): number | null {
    return this.at?.time ?? null;
  }

  /** Bids, best first (empty while not synced). Do not mutate. */
  get bids(): readonly BookLevel[] {
    return this.bidLevels;
  }

  /** Asks, best first (empty while not synced). Do not mutate. */
  get asks(): readonly BookLevel[] {
    return this.askLevels;
  }

  /** Checksum of the levels held (compare with the publisher's). */
  checksum(): number {
    return bookChecksum(this.bidLevels, this.askLevels);
  }

  stats(): OrderBookCounts {
    return { ...this.counts };
  }

  /** Feed one message's `data` (any value: it is checked). */
  apply(data: unknown): BookOutcome {
    const msg = parseBookMessage(data);
    if (!msg || msg.symbol !== this.symbol) return this.ignore('invalid');
    return msg.type === 'snapshot' ? this.applySnapshot(msg) : this.applyUpdate(msg);
  }

  /** Drop the book (e.g. the subscription was lost with no resume); the next snapshot restores it. */
  reset(): void {
    this.at = null;
    this.bidLevels = [];
    this.askLevels = [];
    this.buffered = [];
  }

  private applySnapshot(msg: BookSnapshot): BookOutcome {
    if (this.isCopy(msg)) return this.ignore('stale');
    if (bookChecksum(msg.bids, msg.asks) !== msg.checksum) return this.drop('checksum');
    this.bidLevels = msg.bids.map(([p, s]) => [p, s]);
    this.askLevels = msg.asks.map(([p, s]) => [p, s]);
    this.moveTo(msg);
    this.counts.snapshots++;
    // Replay what arrived while waiting, on top of the snapshot.
    const waiting = this.buffered;
    this.buffered = [];
    for (let i = 0; i < waiting.length; i++) {
      if (waiting[i].seq <= msg.seq) continue;
      const outcome = this.applyUpdate(waiting[i]);
      if (outcome.kind === 'resync') {
        this.buffered.push(...waiting.slice(i + 1)); // still useful on top of a newer snapshot
        return outcome;
      }
    }
    return { kind: 'applied', type: 'snapshot' };
  }

  private applyUpdate(msg: BookUpdate): BookOutcome {
    if (this.at === null) {
      if (this.isCopy(msg)) return this.ignore('stale');
      this.buffered.push(msg);
      if (this.buffered.length > this.maxBuffered) this.buffered.shift();
      return { kind: 'buffered' };
    }
    if (msg.seq <= this.at.seq) {
      if (msg.time <= this.at.time) return this.ignore('stale');
      return this.drop('restart', msg);
    }
    if (msg.seq !== this.at.seq + 1) return this.drop('gap', msg);
    for (const [price, size] of msg.bids) setLevel(this.bidLevels, price, size, -1);
    for (const [price, size] of msg.asks) setLevel(this.askLevels, price, size, 1);
    if (this.checksum() !== msg.checksum) return this.drop('checksum');
    this.moveTo(msg);
    this.counts.updates++;
    return { kind: 'applied', type: 'update' };
  }

  /** An older message than the newest state applied: a replayed copy. */
  private isCopy(msg: BookMessage): boolean {
    return this.newest !== null && msg.seq < this.newest.seq && msg.time <= this.newest.time;
  }

  private moveTo(msg: BookMessage): void {
    this.at = { seq: msg.seq, time: msg.time };
    if (!this.newest || msg.seq >= this.newest.seq || msg.time > this.newest.time) this.newest = { seq: msg.seq, time: msg.time };
  }

  private ignore(why: 'stale' | 'invalid'): BookOutcome {
    this.counts.ignored++;
    return { kind: 'ignored', why };
  }

  /** Drop the book; `keep` (the update that showed the problem) waits for the snapshot. */
  private drop(why: ResyncReason, keep?: BookUpdate): BookOutcome {
    this.reset();
    if (why === 'restart') this.newest = null;
    if (keep && this.maxBuffered > 0) this.buffered.push(keep);
    this.counts.resyncs++;
    return { kind: 'resync', why };
  }
}

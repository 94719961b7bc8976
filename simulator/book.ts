/**
 * One symbol's L2 order book, moved by the market model: every step the best bid and ask become
 * the step's quote (so the top always equals `ticks.<SYM>`), the aggressor's trade takes size
 * off the level it hit (refilled when it would empty: the quote stays), and a few resting
 * orders are added, resized or cancelled near the top. Deeper levels sit on a grid of
 * `spacing` ticks with the odd hole, sizes growing with depth.
 *
 * Counts are whole ticks and lots (exact), turned into numbers only for the wire. It draws from
 * its own random stream, so adding the book left the price path of every seed unchanged.
 */
import { bookChecksum } from '../protocol/book.ts';
import { BOOK_DEPTH, type BookLevel, type BookSnapshot, type BookUpdate, type Tick } from '../protocol/feeds.ts';
import { Increment } from './decimal.ts';
import type { SymbolSpec } from './market.ts';
import type { Random } from './random.ts';

interface Level {
  ticks: number;
  lots: number;
}

/** Levels kept beyond the published depth, so a level leaving view can come back with its size. */
const HIDDEN_LEVELS = 10;
/** Chance per step and side of an order joining an empty grid price, and of a cancel taking a level. */
const JOIN_CHANCE = 0.15;
const CANCEL_CHANCE = 0.1;
/** Chance that a grid price deeper in the book is left empty. */
const HOLE_CHANCE = 0.1;

export class BookModel {
  readonly depth: number;
  /** Ticks between deeper levels: about half the usual spread, so wide-spread books do not thrash. */
  readonly spacing: number;
  private readonly tick: Increment;
  private readonly lot: Increment;
  private readonly medianLots: number;
  /** Best (highest) first. */
  private bids: Level[] = [];
  /** Best (lowest) first. */
  private asks: Level[] = [];
  private seq = 0;
  private time = 0;
  /** What was last published: the diff of the next step is taken against it. */
  private shown: { bids: BookLevel[]; asks: BookLevel[]; checksum: number } = { bids: [], asks: [], checksum: 0 };

  constructor(
    readonly spec: SymbolSpec,
    private readonly rng: Random,
    depth = BOOK_DEPTH,
  ) {
    if (!(Number.isInteger(depth) && depth >= 1)) throw new RangeError(`BookModel: depth must be an integer >= 1, got ${depth}`);
    this.depth = depth;
    this.spacing = Math.max(1, Math.floor(spec.spreadTicks / 2));
    this.tick = new Increment(spec.tickSize);
    this.lot = new Increment(spec.lotSize);
    this.medianLots = Math.max(1, Math.round(spec.medianSize / spec.lotSize));
  }

  /** True once the first step has built the book. */
  get ready(): boolean {
    return this.seq > 0;
  }

  /**
   * Move the book to `tick`'s quote and trade at `timeMs`. Returns the update to publish, or null
   * for the step that built the book (publish `snapshot()` then) or one that changed nothing.
   */
  step(tick: Tick, timeMs: number): BookUpdate | null {
    if (tick.symbol !== this.spec.symbol) throw new Error(`BookModel(${this.spec.symbol}): got a tick for ${tick.symbol}`);
    const bidTicks = this.tick.count(tick.bid);
    const askTicks = this.tick.count(tick.ask);
    const first = !this.ready;

    // The quote: levels inside the new spread are gone (traded through or cancelled), the quote's
    // prices hold orders.
    this.bids = this.bids.filter((l) => l.ticks <= bidTicks);
    this.asks = this.asks.filter((l) => l.ticks >= askTicks);
    if (this.bids[0]?.ticks !== bidTicks) this.bids.unshift({ ticks: bidTicks, lots: this.freshLots(0) });
    if (this.asks[0]?.ticks !== askTicks) this.asks.unshift({ ticks: askTicks, lots: this.freshLots(0) });

    this.churn(this.bids, -1);
    this.churn(this.asks, 1);

    // The trade took size off the level the aggressor hit; the quote stays, so refill it.
    const hit = tick.last === tick.ask ? this.asks[0] : this.bids[0];
    hit.lots -= this.lot.count(tick.size);
    if (hit.lots <= 0) hit.lots = this.freshLots(0);

    this.extend(this.bids, -1);
    this.extend(this.asks, 1);

    const bids = this.visible(this.bids);
    const asks = this.visible(this.asks);
    const changes = { bids: diff(this.shown.bids, bids, -1), asks: diff(this.shown.asks, asks, 1) };
    if (!first && changes.bids.length === 0 && changes.asks.length === 0) return null;
    this.shown = { bids, asks, checksum: bookChecksum(bids, asks) };
    this.seq++;
    this.time = timeMs;
    if (first) return null;
    return { type: 'update', symbol: this.spec.symbol, seq: this.seq, time: timeMs, ...changes, checksum: this.shown.checksum };
  }

  /** The whole published book now (fresh arrays). Throws before the first step. */
  snapshot(): BookSnapshot {
    if (!this.ready) throw new Error(`BookModel(${this.spec.symbol}): no book before the first step`);
    const bids = this.shown.bids.map(([p, s]): BookLevel => [p, s]);
    const asks = this.shown.asks.map(([p, s]): BookLevel => [p, s]);
    return { type: 'snapshot', symbol: this.spec.symbol, seq: this.seq, time: this.time, bids, asks, checksum: this.shown.checksum };
  }

  /** Resting orders come and go: resize a few levels near the top, maybe add one or cancel one. */
  private churn(side: Level[], direction: -1 | 1): void {
    const reach = Math.min(side.length, this.depth);
    for (let n = this.rng.int(1, 3); n > 0; n--) {
      const level = side[Math.floor(this.rng.next() ** 2 * reach)];
      level.lots = Math.max(1, Math.round(level.lots * Math.exp(this.rng.normal(0, 0.35))));
    }
    if (reach > 1 && this.rng.chance(CANCEL_CHANCE)) side.splice(this.rng.int(1, reach - 1), 1); // never the quote
    if (this.rng.chance(JOIN_CHANCE)) {
      const k = this.rng.int(1, this.depth);
      const ticks = this.gridFrom(side[0].ticks, k, direction);
      if (ticks > 0 && !side.some((l) => l.ticks === ticks)) {
        let i = 0;
        while (i < side.length && (side[i].ticks - ticks) * direction < 0) i++;
        side.splice(i, 0, { ticks, lots: this.freshLots(k) });
      }
    }
  }

  /** Add deeper levels until the side has its depth plus a few hidden ones; drop the rest. */
  private extend(side: Level[], direction: -1 | 1): void {
    while (side.length < this.depth + HIDDEN_LEVELS) {
      let ticks = this.gridFrom(side[side.length - 1].ticks, 1, direction);
      if (this.rng.chance(HOLE_CHANCE)) ticks += direction * this.spacing;
      if (ticks <= 0) break; // a bid side near zero simply ends
      side.push({ ticks, lots: this.freshLots(side.length) });
    }
    side.length = Math.min(side.length, this.depth + HIDDEN_LEVELS);
  }

  /** The `k`-th grid price beyond `ticks`, away from the spread. */
  private gridFrom(ticks: number, k: number, direction: -1 | 1): number {
    const s = this.spacing;
    const firstGrid = direction < 0 ? Math.floor((ticks - 1) / s) * s : Math.ceil((ticks + 1) / s) * s;
    return firstGrid + direction * (k - 1) * s;
  }

  /** A new resting size at `depth` levels from the top: larger deeper, log-normal. */
  private freshLots(depth: number): number {
    return Math.max(1, Math.round(2 * this.medianLots * (1 + 0.25 * depth) * this.rng.logNormal(0, 0.6)));
  }

  private visible(side: Level[]): BookLevel[] {
    const out: BookLevel[] = [];
    for (let i = 0; i < side.length && i < this.depth; i++) out.push([this.tick.value(side[i].ticks), this.lot.value(side[i].lots)]);
    return out;
  }
}

/**
 * The levels that turn `before` into `after` (one side, both in book order `direction`): new or
 * resized ones with their size, gone ones with 0. A merge walk: both are sorted.
 */
function diff(before: readonly BookLevel[], after: readonly BookLevel[], direction: -1 | 1): BookLevel[] {
  const out: BookLevel[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const b = before[i];
    const a = after[j];
    const order = b === undefined ? 1 : a === undefined ? -1 : (b[0] - a[0]) * direction;
    if (order === 0) {
      if (b[1] !== a[1]) out.push([a[0], a[1]]);
      i++;
      j++;
    } else if (order < 0) {
      out.push([b[0], 0]); // only before: gone
      i++;
    } else {
      out.push([a[0], a[1]]); // only after: new
      j++;
    }
  }
  return out;
}

/**
 * Per-symbol market state, kept independently of what is on screen so switching symbol is instant:
 * the chart just re-reads the store.
 */
import type { Bar, Fill, PnlSnapshot, Tick } from '../../server/protocol/feeds.ts';
import { decimalsForMagnitude, decimalsUsed } from './format.ts';

/** Bars kept per symbol (1 s bars: one hour). */
export const MAX_BARS = 3600;
/** Fills kept per symbol and in the global blotter. */
export const MAX_FILLS = 500;
/** P&L points kept (one per second). */
export const MAX_PNL_POINTS = 3600;

/** How a bar changed the series: only `append` and `last` can be drawn incrementally. */
export type BarChange = 'append' | 'last' | 'history';

export interface SymbolState {
  readonly symbol: string;
  /** Ascending by time, unique times. */
  bars: Bar[];
  tick: Tick | null;
  /** `last` of the tick before the current one (for up/down flashes). */
  prevLast: number | null;
  /** First trade price seen, used as the change reference when no bars are known. */
  firstLast: number | null;
  /** Price decimals: what the feed uses, capped by magnitude. */
  decimals: number;
  /** Ascending by time. */
  fills: Fill[];
  /** Hub time (ms) of the last message for this symbol. */
  lastTs: number;
  /** Lowest seq of `bars.1s.<symbol>` received since the last reset (where a backfill continues). */
  barsFirstSeq: number | null;
  /** Bumped when the bars are reset, so an in-flight backfill knows its answer is stale. */
  barsGen: number;
}

export interface PnlPoint {
  /** Unix seconds. */
  time: number;
  value: number;
}

type Listener = (symbol: string) => void;

export class MarketStore {
  readonly symbols = new Map<string, SymbolState>();
  /** Global fill blotter, ascending by time. */
  fills: Fill[] = [];
  private readonly fillIds = new Set<number>();
  pnl: PnlSnapshot | null = null;
  pnlHistory: PnlPoint[] = [];
  private readonly newSymbolListeners: Listener[] = [];

  onNewSymbol(fn: Listener): void {
    this.newSymbolListeners.push(fn);
  }

  has(symbol: string): boolean {
    return this.symbols.has(symbol);
  }

  get(symbol: string): SymbolState {
    let st = this.symbols.get(symbol);
    if (!st) {
      st = {
        symbol,
        bars: [],
        tick: null,
        prevLast: null,
        firstLast: null,
        decimals: 2,
        fills: [],
        lastTs: 0,
        barsFirstSeq: null,
        barsGen: 0,
      };
      this.symbols.set(symbol, st);
      for (const fn of this.newSymbolListeners) fn(symbol);
    }
    return st;
  }

  /** Sorted symbol list. */
  list(): string[] {
    return [...this.symbols.keys()].sort();
  }

  applyBar(bar: Bar, ts: number, seq: number): BarChange {
    const st = this.get(bar.symbol);
    st.lastTs = Math.max(st.lastTs, ts);
    if (st.barsFirstSeq === null || seq < st.barsFirstSeq) st.barsFirstSeq = seq;
    this.noteDecimals(st, bar.close);
    const bars = st.bars;
    const last = bars[bars.length - 1];
    if (!last || bar.time > last.time) {
      bars.push(bar);
      if (bars.length > MAX_BARS) bars.splice(0, bars.length - MAX_BARS);
      return 'append';
    }
    if (bar.time === last.time) {
      bars[bars.length - 1] = bar;
      return 'last';
    }
    // Older than the last bar: a late or replayed update. Insert or replace in place.
    let lo = 0;
    let hi = bars.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bars[mid].time < bar.time) lo = mid + 1;
      else hi = mid;
    }
    if (bars[lo].time === bar.time) bars[lo] = bar;
    else bars.splice(lo, 0, bar);
    return 'history';
  }

  /**
   * Older bars from a history page (each the final state of its second): only seconds before the
   * oldest bar held are taken, since later messages of the same second are already applied.
   */
  prependBars(symbol: string, older: Bar[]): number {
    const st = this.get(symbol);
    const oldest = st.bars.length ? st.bars[0].time : Infinity;
    const room = MAX_BARS - st.bars.length;
    if (room <= 0) return 0;
    const take = older.filter((b) => b.time < oldest).sort((a, b) => a.time - b.time).slice(-room);
    if (take.length) st.bars = take.concat(st.bars);
    return take.length;
  }

  applyTick(tick: Tick, ts: number): SymbolState {
    const st = this.get(tick.symbol);
    st.lastTs = Math.max(st.lastTs, ts);
    st.prevLast = st.tick ? st.tick.last : null;
    st.tick = tick;
    st.firstLast ??= tick.last;
    this.noteDecimals(st, tick.last);
    return st;
  }

  /** Returns false for a fill already known (same id). */
  addFill(fill: Fill): boolean {
    if (this.fillIds.has(fill.id)) return false;
    this.fillIds.add(fill.id);
    insertByTime(this.fills, fill);
    if (this.fills.length > MAX_FILLS) {
      for (const f of this.fills.splice(0, this.fills.length - MAX_FILLS)) this.fillIds.delete(f.id);
    }
    const st = this.get(fill.symbol);
    insertByTime(st.fills, fill);
    if (st.fills.length > MAX_FILLS) st.fills.splice(0, st.fills.length - MAX_FILLS);
    return true;
  }

  applyPnl(snap: PnlSnapshot): void {
    this.pnl = snap;
    const point = { time: Math.floor(snap.time / 1000), value: snap.total };
    const h = this.pnlHistory;
    const last = h[h.length - 1];
    if (!last || point.time > last.time) {
      h.push(point);
      if (h.length > MAX_PNL_POINTS) h.splice(0, h.length - MAX_PNL_POINTS);
    } else if (point.time === last.time) {
      h[h.length - 1] = point;
    } // older snapshots only update the table, not the curve
  }

  /** Reference price for "change": open of the oldest bar held, else the first trade seen. */
  refPrice(st: SymbolState): number | null {
    return st.bars.length ? st.bars[0].open : st.firstLast;
  }

  resetBars(symbol: string): void {
    const st = this.symbols.get(symbol);
    if (st) {
      st.bars = [];
      st.barsFirstSeq = null;
      st.barsGen++;
    }
  }

  resetTick(symbol: string): void {
    const st = this.symbols.get(symbol);
    if (st) {
      st.tick = null;
      st.prevLast = null;
      st.firstLast = null;
    }
  }

  resetFills(): void {
    this.fills = [];
    this.fillIds.clear();
    for (const st of this.symbols.values()) st.fills = [];
  }

  resetPnl(): void {
    this.pnl = null;
    this.pnlHistory = [];
  }

  private noteDecimals(st: SymbolState, price: number): void {
    const d = Math.min(Math.max(decimalsUsed(price), 2), decimalsForMagnitude(price));
    if (d > st.decimals) st.decimals = d;
  }
}

function insertByTime(list: Fill[], fill: Fill): void {
  let i = list.length;
  while (i > 0 && list[i - 1].time > fill.time) i--;
  list.splice(i, 0, fill);
}

/** `ticks.AAPL` -> `AAPL`, `bars.1s.BTC-USD` -> `BTC-USD`. */
export function symbolOf(topic: string): string {
  return topic.slice(topic.lastIndexOf('.') + 1);
}

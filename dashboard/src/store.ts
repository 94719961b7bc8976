/**
 * Per-symbol market state, kept independently of what is on screen so switching symbol is instant:
 * the chart just re-reads the store.
 */
import type { Bar, Fill, PnlSnapshot, Tick } from '../../protocol/feeds.ts';
import { BarSeries, lowerBound, type BarChange } from './bar-series.ts';
import { decimalsForMagnitude, decimalsUsed } from './format.ts';
import { TF_SECONDS, type Timeframe } from './timeframes.ts';

export { MAX_BARS, type BarChange } from './bar-series.ts';

/** Fills kept per symbol and in the global blotter. */
export const MAX_FILLS = 500;
/** P&L points kept (one per second). */
export const MAX_PNL_POINTS = 3600;

export interface SymbolState {
  readonly symbol: string;
  /** Bars per timeframe, created on first use. */
  frames: Map<Timeframe, BarSeries>;
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
  /** `fillKey`s of the fills held. */
  private readonly fillKeys = new Set<string>();
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
        frames: new Map(),
        tick: null,
        prevLast: null,
        firstLast: null,
        decimals: 2,
        fills: [],
        lastTs: 0,
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

  /** The bars of `symbol` in timeframe `tf` (created empty on first use). */
  series(symbol: string, tf: Timeframe = '1s'): BarSeries {
    const st = this.get(symbol);
    let series = st.frames.get(tf);
    if (!series) {
      series = new BarSeries(TF_SECONDS[tf]);
      st.frames.set(tf, series);
    }
    return series;
  }

  /** A `bars.<tf>.<symbol>` message: insert its bar, or replace an older version of it. */
  applyBar(bar: Bar, ts: number, seq: number, tf: Timeframe = '1s'): BarChange {
    const st = this.get(bar.symbol);
    st.lastTs = Math.max(st.lastTs, ts);
    this.noteDecimals(st, bar.close);
    return this.series(bar.symbol, tf).apply(bar, seq);
  }

  /** Bars from a history page of the current stream, see `BarSeries.merge`. */
  mergeHistory(symbol: string, older: { bar: Bar; seq: number }[], tf: Timeframe = '1s'): number {
    return this.series(symbol, tf).merge(older);
  }

  /** The bars stream of `symbol` was reset (new hub epoch or trimmed): keep the bars, merge what follows. */
  barsReset(symbol: string, tf: Timeframe = '1s'): void {
    if (this.symbols.has(symbol)) this.series(symbol, tf).reset();
  }

  /** See `BarSeries.resetGap`; null for an unknown symbol. */
  resetGap(symbol: string, tf: Timeframe = '1s'): [number, number] | null {
    return this.symbols.get(symbol)?.frames.get(tf)?.resetGap() ?? null;
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

  /** Returns false for a fill already known (a replay: same id, time and symbol). */
  addFill(fill: Fill): boolean {
    const key = fillKey(fill);
    if (this.fillKeys.has(key)) return false;
    // The global blotter forgets the keys it trims; the symbol's own list may still hold the fill.
    const held = this.symbols.get(fill.symbol)?.fills;
    if (held?.some((f) => fillKey(f) === key)) return false;
    this.fillKeys.add(key);
    insertByTime(this.fills, fill);
    if (this.fills.length > MAX_FILLS) {
      for (const f of this.fills.splice(0, this.fills.length - MAX_FILLS)) this.fillKeys.delete(fillKey(f));
    }
    const st = this.get(fill.symbol);
    insertByTime(st.fills, fill);
    if (st.fills.length > MAX_FILLS) st.fills.splice(0, st.fills.length - MAX_FILLS);
    return true;
  }

  /** Returns true when the point landed before the newest one (the curve must be redrawn). */
  applyPnl(snap: PnlSnapshot): boolean {
    if (!this.pnl || snap.time >= this.pnl.time) this.pnl = snap; // older snapshots only fill the curve
    const point = { time: Math.floor(snap.time / 1000), value: snap.total };
    const h = this.pnlHistory;
    const last = h[h.length - 1];
    if (!last || point.time > last.time) {
      h.push(point);
      if (h.length > MAX_PNL_POINTS) h.splice(0, h.length - MAX_PNL_POINTS);
      return false;
    }
    if (point.time === last.time) {
      if (snap === this.pnl) h[h.length - 1] = point;
      return false;
    }
    // A replayed older snapshot (after a reset): fill its second if the curve lacks it.
    const i = lowerBound(h, point.time);
    if (h[i].time === point.time) return false;
    if (h.length >= MAX_PNL_POINTS && i === 0) return false;
    h.splice(i, 0, point);
    if (h.length > MAX_PNL_POINTS) h.splice(0, h.length - MAX_PNL_POINTS);
    return true;
  }

  /**
   * Reference price for "change": the open of the oldest bar held in any timeframe (the start of
   * the session the hub still has), else the first trade seen.
   */
  refPrice(st: SymbolState): number | null {
    let first: Bar | undefined;
    for (const series of st.frames.values()) {
      const b = series.bars[0];
      if (b && (!first || b.time < first.time)) first = b;
    }
    return first ? first.open : st.firstLast;
  }

  /** Last price: the last trade, else the close of the newest 1 s bar. */
  lastPrice(st: SymbolState): number | null {
    return st.tick?.last ?? st.frames.get('1s')?.bars.at(-1)?.close ?? null;
  }

  private noteDecimals(st: SymbolState, price: number): void {
    const d = Math.min(Math.max(decimalsUsed(price), 2), decimalsForMagnitude(price));
    if (d > st.decimals) st.decimals = d;
  }
}

/**
 * Identity of a fill: its id, plus time and symbol because ids restart when the producer does (a
 * restarted simulator numbers its fills from 1 again); a replayed fill has all three equal.
 */
export function fillKey(fill: Fill): string {
  return `${fill.id}@${fill.time}:${fill.symbol}`;
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

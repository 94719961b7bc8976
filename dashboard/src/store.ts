/**
 * Per-symbol market state, kept independently of what is on screen so switching symbol is instant:
 * the chart just re-reads the store.
 */
import type { Bar, Fill, PnlSnapshot, Tick } from '../../protocol/feeds.ts';
import { decimalsForMagnitude, decimalsUsed } from './format.ts';

/** Bars kept per symbol (1 s bars: one hour). */
export const MAX_BARS = 3600;
/** Fills kept per symbol and in the global blotter. */
export const MAX_FILLS = 500;
/** P&L points kept (one per second). */
export const MAX_PNL_POINTS = 3600;

/**
 * How a bar changed the series: only `append` and `last` can be drawn incrementally; `none` means
 * the store already held a newer version of that second.
 */
export type BarChange = 'append' | 'last' | 'history' | 'none';

/**
 * Version of a bar message: the stream generation (bumped by every reset, so anything received
 * after a reset beats what was held before it) and then the hub's seq within that generation.
 */
const rev = (gen: number, seq: number) => gen * 2 ** 32 + seq;

export interface SymbolState {
  readonly symbol: string;
  /** Ascending by time, unique times. */
  bars: Bar[];
  /** time -> version (see `rev`) of the bar held for that second. */
  barRevs: Map<number, number>;
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
  /** Bumped when the bar stream is reset (new hub epoch, trimmed history): seqs start over. */
  barsGen: number;
  /**
   * Newest bar time held when the stream was last reset, while the bars received since do not
   * reach back to it: the hole a backfill of the new stream should close. Null when there is none.
   */
  gapFrom: number | null;
  /** Oldest bar time received since the last reset (live, snapshot or backfill). */
  genLowTime: number | null;
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
        bars: [],
        barRevs: new Map(),
        tick: null,
        prevLast: null,
        firstLast: null,
        decimals: 2,
        fills: [],
        lastTs: 0,
        barsFirstSeq: null,
        barsGen: 0,
        gapFrom: null,
        genLowTime: null,
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

  /** A `bars.1s.<symbol>` message: insert its second, or replace an older version of it. */
  applyBar(bar: Bar, ts: number, seq: number): BarChange {
    const st = this.get(bar.symbol);
    st.lastTs = Math.max(st.lastTs, ts);
    if (st.barsFirstSeq === null || seq < st.barsFirstSeq) st.barsFirstSeq = seq;
    this.noteGenTime(st, bar.time);
    this.noteDecimals(st, bar.close);
    const r = rev(st.barsGen, seq);
    const held = st.barRevs.get(bar.time);
    if (held !== undefined && held > r) return 'none';
    st.barRevs.set(bar.time, r);
    const bars = st.bars;
    const last = bars[bars.length - 1];
    if (!last || bar.time > last.time) {
      bars.push(bar);
      this.trimBars(st);
      return 'append';
    }
    if (bar.time === last.time) {
      bars[bars.length - 1] = bar;
      return 'last';
    }
    // Older than the last bar: a late, replayed or re-published update. Insert or replace in place.
    const i = lowerBound(bars, bar.time);
    if (bars[i].time === bar.time) bars[i] = bar;
    else {
      bars.splice(i, 0, bar);
      this.trimBars(st);
    }
    return 'history';
  }

  /**
   * Bars from a history page of the current stream (each the final state of its second in the
   * page, with the seq it had): merged by version, so what is already held from later messages
   * stays, and what was held from before a reset is replaced. Returns how many seconds changed.
   */
  mergeHistory(symbol: string, older: { bar: Bar; seq: number }[]): number {
    const st = this.get(symbol);
    let changed = 0;
    let inserted = false;
    for (const { bar, seq } of older) {
      this.noteGenTime(st, bar.time);
      const r = rev(st.barsGen, seq);
      const held = st.barRevs.get(bar.time);
      if (held !== undefined && held >= r) continue;
      if (held === undefined && st.bars.length >= MAX_BARS && bar.time < st.bars[0].time) continue;
      st.barRevs.set(bar.time, r);
      const i = lowerBound(st.bars, bar.time);
      if (st.bars[i]?.time === bar.time) st.bars[i] = bar;
      else {
        st.bars.splice(i, 0, bar);
        inserted = true;
      }
      changed++;
    }
    if (inserted) this.trimBars(st);
    return changed;
  }

  /** The bars stream of `symbol` was reset (new hub epoch or trimmed): keep the bars, merge what follows. */
  barsReset(symbol: string): void {
    const st = this.symbols.get(symbol);
    if (!st) return;
    st.barsGen++;
    st.barsFirstSeq = null;
    st.genLowTime = null;
    const newest = st.bars[st.bars.length - 1]?.time;
    if (newest !== undefined) st.gapFrom = Math.max(newest, st.gapFrom ?? newest);
  }

  /**
   * Seconds between the newest bar held at the last reset and the oldest bar of the stream since,
   * as [from, to] (inclusive) if the two do not join up yet; null when they do or nothing was reset.
   */
  resetGap(symbol: string): [number, number] | null {
    const st = this.symbols.get(symbol);
    if (!st || st.gapFrom === null || st.genLowTime === null) return null;
    return st.genLowTime > st.gapFrom + 1 ? [st.gapFrom + 1, st.genLowTime - 1] : null;
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

  /** Reference price for "change": open of the oldest bar held, else the first trade seen. */
  refPrice(st: SymbolState): number | null {
    return st.bars.length ? st.bars[0].open : st.firstLast;
  }

  private trimBars(st: SymbolState): void {
    if (st.bars.length <= MAX_BARS) return;
    for (const b of st.bars.splice(0, st.bars.length - MAX_BARS)) st.barRevs.delete(b.time);
  }

  private noteGenTime(st: SymbolState, time: number): void {
    if (st.genLowTime === null || time < st.genLowTime) st.genLowTime = time;
    if (st.gapFrom !== null && st.genLowTime <= st.gapFrom + 1) st.gapFrom = null; // joined up
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

/** First index whose `time` is >= `time` (list ascending by time). */
function lowerBound(list: readonly { time: number }[], time: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].time < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

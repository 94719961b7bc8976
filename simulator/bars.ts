/**
 * OHLCV bars built from trades, for one timeframe. Each tick's `last`/`size` is one trade. The
 * bar in progress is returned after every trade so it can be republished as it grows.
 */
import type { Bar, Tick } from '../protocol/feeds.ts';
import { roundTo } from './decimal.ts';

/** Volumes are sums of lot multiples such as 0.0001 BTC; rounding keeps 0.1 + 0.2 at 0.3. */
const VOLUME_DECIMALS = 8;
const VOLUME_SCALE = 1e8;

/**
 * `a + b` rounded to VOLUME_DECIMALS: the double nearest the exact decimal sum. Hot (every trade,
 * every timeframe): below 2^53 / 10^8 an integer count of 10^-8 divided by 10^8 is exact and
 * rounds once, the same double `roundTo` finds through strings.
 */
export function addVolume(a: number, b: number): number {
  const sum = a + b;
  if (Number.isInteger(sum)) return sum;
  if (Math.abs(sum) < 9e7) return Math.round(sum * VOLUME_SCALE) / VOLUME_SCALE;
  return roundTo(sum, VOLUME_DECIMALS);
}

export interface BarUpdate {
  /** The bar in progress, including this trade (a copy: safe to publish and keep). */
  bar: Bar;
  /** The previous bar, when this trade opened a new period; it is final. */
  closed: Bar | null;
}

/** Start (Unix seconds) of the period of `periodSeconds` holding `timeMs`. */
export function periodStart(timeMs: number, periodSeconds: number): number {
  const second = Math.floor(timeMs / 1000);
  return second - (((second % periodSeconds) + periodSeconds) % periodSeconds);
}

/** Aggregates one symbol's trades into bars of `periodSeconds` (default 1). */
export class BarAggregator {
  private current: Bar | null = null;

  constructor(
    readonly symbol: string,
    readonly periodSeconds = 1,
  ) {
    if (!(Number.isInteger(periodSeconds) && periodSeconds > 0)) throw new RangeError(`BarAggregator: periodSeconds must be an integer > 0, got ${periodSeconds}`);
  }

  /** Add the trade of `tick` (its `last` and `size`) stamped `timeMs`; see `add`. */
  update(tick: Tick, timeMs: number): BarUpdate {
    if (tick.symbol !== this.symbol) throw new Error(`BarAggregator(${this.symbol}): got a tick for ${tick.symbol}`);
    return this.add(tick.last, tick.size, timeMs);
  }

  /**
   * Add a trade stamped `timeMs` (Unix ms). A trade in a later period closes the bar in progress
   * and opens a new one; a trade stamped in an earlier period (clock stepped back) is folded into
   * the bar in progress, because a closed bar has already been published as final.
   */
  add(price: number, size: number, timeMs: number): BarUpdate {
    if (!Number.isFinite(timeMs)) throw new RangeError(`BarAggregator: bad timestamp ${timeMs}`);
    const time = periodStart(timeMs, this.periodSeconds);
    let closed: Bar | null = null;
    const bar = this.current;
    if (bar === null || time > bar.time) {
      closed = bar;
      this.current = { symbol: this.symbol, time, open: price, high: price, low: price, close: price, volume: addVolume(0, size) };
    } else {
      if (price > bar.high) bar.high = price;
      if (price < bar.low) bar.low = price;
      bar.close = price;
      bar.volume = addVolume(bar.volume, size);
    }
    return { bar: { ...this.current! }, closed };
  }

  /** The bar in progress (a copy), or null before the first trade. */
  peek(): Bar | null {
    return this.current ? { ...this.current } : null;
  }

  /** Carry on from `bar` as the bar in progress (the warm start hands over its last bar). */
  resume(bar: Bar): void {
    if (bar.symbol !== this.symbol || periodStart(bar.time * 1000, this.periodSeconds) !== bar.time) {
      throw new RangeError(`BarAggregator(${this.symbol}, ${this.periodSeconds}s): cannot resume from bar ${bar.symbol}@${bar.time}`);
    }
    this.current = { ...bar };
  }
}

/**
 * Bars of a longer period from consecutive shorter ones (sorted by time): open of the first, high
 * of the highs, low of the lows, close of the last, volumes summed. Exactly what BarAggregator
 * makes of the same trades.
 */
export function rollUp(bars: readonly Bar[], periodSeconds: number): Bar[] {
  const out: Bar[] = [];
  let cur: Bar | null = null;
  for (const b of bars) {
    const time = periodStart(b.time * 1000, periodSeconds);
    if (cur === null || time !== cur.time) {
      cur = { ...b, time };
      out.push(cur);
    } else {
      if (b.high > cur.high) cur.high = b.high;
      if (b.low < cur.low) cur.low = b.low;
      cur.close = b.close;
      cur.volume = addVolume(cur.volume, b.volume);
    }
  }
  return out;
}

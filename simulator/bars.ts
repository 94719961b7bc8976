/**
 * 1-second OHLCV bars built from ticks. Each tick's `last`/`size` is one trade. The bar in
 * progress is returned after every tick so it can be republished as it grows.
 */
import type { Bar, Tick } from '../protocol/feeds.ts';
import { roundTo } from './decimal.ts';

/** Volumes are sums of lot multiples such as 0.0001 BTC; rounding keeps 0.1 + 0.2 at 0.3. */
const VOLUME_DECIMALS = 8;

export interface BarUpdate {
  /** The bar in progress, including this tick (a copy: safe to publish and keep). */
  bar: Bar;
  /** The previous bar, when this tick opened a new second; it is final. */
  closed: Bar | null;
}

/** Aggregates one symbol's ticks into 1-second bars. */
export class BarAggregator {
  private current: Bar | null = null;

  constructor(readonly symbol: string) {}

  /**
   * Add a tick stamped `timeMs` (Unix ms). A tick in a later second closes the bar in progress and
   * opens a new one; a tick stamped in an earlier second (clock stepped back) is folded into the
   * bar in progress, because a closed bar has already been published as final.
   */
  update(tick: Tick, timeMs: number): BarUpdate {
    if (tick.symbol !== this.symbol) throw new Error(`BarAggregator(${this.symbol}): got a tick for ${tick.symbol}`);
    if (!Number.isFinite(timeMs)) throw new RangeError(`BarAggregator: bad timestamp ${timeMs}`);
    const second = Math.floor(timeMs / 1000);
    let closed: Bar | null = null;
    const bar = this.current;
    if (bar === null || second > bar.time) {
      closed = bar;
      this.current = {
        symbol: this.symbol,
        time: second,
        open: tick.last,
        high: tick.last,
        low: tick.last,
        close: tick.last,
        volume: roundTo(tick.size, VOLUME_DECIMALS),
      };
    } else {
      bar.high = Math.max(bar.high, tick.last);
      bar.low = Math.min(bar.low, tick.last);
      bar.close = tick.last;
      bar.volume = roundTo(bar.volume + tick.size, VOLUME_DECIMALS);
    }
    return { bar: { ...this.current! }, closed };
  }

  /** The bar in progress (a copy), or null before the first tick. */
  peek(): Bar | null {
    return this.current ? { ...this.current } : null;
  }
}

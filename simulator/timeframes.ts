/**
 * One symbol's bars in every timeframe (protocol/feeds.ts TIMEFRAMES), fed the same trades so
 * they agree exactly, and which versions of them to publish.
 *
 * `1s` bars are republished on every trade. A longer timeframe's bar in progress is republished
 * at most once per `republishSeconds` (its length / 60: 1 s for 1m, 5 s for 5m, 15 s for 15m, 60 s
 * for 1h, taken from trade times), and its final version always goes out before the next bar's
 * first: each bar then costs at most ~61 messages of history, so a day of 1h or 15m bars fits
 * the hub's retention. A reader that wants the live candle of a long timeframe to move on every
 * trade folds `bars.1s.<SYM>` into it (exact, since the timeframes agree).
 */
import { TIMEFRAMES, TIMEFRAME_SECONDS, type Bar, type Timeframe } from '../protocol/feeds.ts';
import { BarAggregator } from './bars.ts';

export interface BarVersion {
  timeframe: Timeframe;
  bar: Bar;
}

/** Seconds between republishes of a timeframe's bar in progress. */
export function republishSeconds(timeframe: Timeframe): number {
  return timeframe === '1s' ? 0 : Math.max(1, TIMEFRAME_SECONDS[timeframe] / 60);
}

interface Frame {
  timeframe: Timeframe;
  bars: BarAggregator;
  everyMs: number;
  /** Trade time (ms) of the last version published; -Infinity before the first. */
  publishedAt: number;
  /** The bar in progress has changed since its last published version. */
  dirty: boolean;
}

export class TimeframeBars {
  private readonly frames: Frame[];

  constructor(readonly symbol: string) {
    this.frames = TIMEFRAMES.map((timeframe) => ({
      timeframe,
      bars: new BarAggregator(symbol, TIMEFRAME_SECONDS[timeframe]),
      everyMs: republishSeconds(timeframe) * 1000,
      publishedAt: -Infinity,
      dirty: false,
    }));
  }

  /** Add one trade; returns the bar versions to publish now, shortest timeframe first. */
  add(price: number, size: number, timeMs: number): BarVersion[] {
    const out: BarVersion[] = [];
    for (const f of this.frames) {
      const { bar, closed } = f.bars.add(price, size, timeMs);
      if (closed && f.dirty) out.push({ timeframe: f.timeframe, bar: closed }); // its final version
      if (closed || timeMs - f.publishedAt >= f.everyMs || timeMs < f.publishedAt) {
        out.push({ timeframe: f.timeframe, bar });
        f.publishedAt = timeMs;
        f.dirty = false;
      } else {
        f.dirty = true;
      }
    }
    return out;
  }

  /** The bar in progress of a timeframe (a copy), or null before the first trade. */
  peek(timeframe: Timeframe): Bar | null {
    return this.frame(timeframe).bars.peek();
  }

  /** Carry on from the warm start's bars in progress (published already, at `publishedAtMs`). */
  resume(inProgress: Partial<Record<Timeframe, Bar>>, publishedAtMs: number): void {
    for (const f of this.frames) {
      const bar = inProgress[f.timeframe];
      if (!bar) continue;
      f.bars.resume(bar);
      f.publishedAt = publishedAtMs;
      f.dirty = false;
    }
  }

  private frame(timeframe: Timeframe): Frame {
    return this.frames.find((f) => f.timeframe === timeframe)!;
  }
}

/**
 * One symbol's bars of one timeframe, as the hub's `bars.<tf>.<SYM>` stream delivers them: a bar in
 * progress is republished as ticks arrive, replays and backfills arrive out of order, and a reset
 * (new hub epoch, trimmed history) starts the seqs over. Every version is ordered by `rev`.
 */
import type { Bar } from '../../protocol/feeds.ts';

/** Bars kept per symbol and timeframe (1 s bars: one hour; 1 m bars: more than a day). */
export const MAX_BARS = 3600;

/**
 * How a bar changed the series: only `append` and `last` can be drawn incrementally; `none` means
 * the series already held a newer version of that bar.
 */
export type BarChange = 'append' | 'last' | 'history' | 'none';

/**
 * Version of a bar message: the stream generation (bumped by every reset, so anything received
 * after a reset beats what was held before it) and then the hub's seq within that generation.
 */
const rev = (gen: number, seq: number) => gen * 2 ** 32 + seq;

export class BarSeries {
  /** Ascending by time, unique times. */
  readonly bars: Bar[] = [];
  /** time -> version (see `rev`) of the bar held for that time. */
  readonly barRevs = new Map<number, number>();
  /** Lowest seq received since the last reset (where a backfill continues). */
  barsFirstSeq: number | null = null;
  /** Bumped when the stream is reset (new hub epoch, trimmed history): seqs start over. */
  barsGen = 0;
  /**
   * Newest bar time held when the stream was last reset, while the bars received since do not
   * reach back to it: the hole a backfill of the new stream should close. Null when there is none.
   */
  gapFrom: number | null = null;
  /** Oldest bar time received since the last reset (live, snapshot or backfill). */
  genLowTime: number | null = null;

  /** @param step bar length in seconds: two bars `step` apart are adjacent. */
  constructor(readonly step = 1) {}

  /** A live or snapshot message: insert its bar, or replace an older version of it. */
  apply(bar: Bar, seq: number): BarChange {
    if (this.barsFirstSeq === null || seq < this.barsFirstSeq) this.barsFirstSeq = seq;
    this.noteGenTime(bar.time);
    const r = rev(this.barsGen, seq);
    const held = this.barRevs.get(bar.time);
    if (held !== undefined && held > r) return 'none';
    this.barRevs.set(bar.time, r);
    const bars = this.bars;
    const last = bars[bars.length - 1];
    if (!last || bar.time > last.time) {
      bars.push(bar);
      this.trim();
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
      this.trim();
    }
    return 'history';
  }

  /**
   * Bars from a history page of the current stream (each the final state of its bar in the page,
   * with the seq it had): merged by version, so what is already held from later messages stays, and
   * what was held from before a reset is replaced. Returns how many bars changed.
   */
  merge(older: { bar: Bar; seq: number }[]): number {
    let changed = 0;
    let inserted = false;
    for (const { bar, seq } of older) {
      this.noteGenTime(bar.time);
      const r = rev(this.barsGen, seq);
      const held = this.barRevs.get(bar.time);
      if (held !== undefined && held >= r) continue;
      if (held === undefined && this.bars.length >= MAX_BARS && bar.time < this.bars[0].time) continue;
      this.barRevs.set(bar.time, r);
      const i = lowerBound(this.bars, bar.time);
      if (this.bars[i]?.time === bar.time) this.bars[i] = bar;
      else {
        this.bars.splice(i, 0, bar);
        inserted = true;
      }
      changed++;
    }
    if (inserted) this.trim();
    return changed;
  }

  /** The stream was reset: keep the bars, merge what follows. */
  reset(): void {
    this.barsGen++;
    this.barsFirstSeq = null;
    this.genLowTime = null;
    const newest = this.bars[this.bars.length - 1]?.time;
    if (newest !== undefined) this.gapFrom = Math.max(newest, this.gapFrom ?? newest);
  }

  /**
   * Bar times between the newest bar held at the last reset and the oldest bar of the stream since,
   * as [from, to] (inclusive) if the two do not join up yet; null when they do or nothing was reset.
   */
  resetGap(): [number, number] | null {
    if (this.gapFrom === null || this.genLowTime === null) return null;
    return this.genLowTime > this.gapFrom + this.step ? [this.gapFrom + this.step, this.genLowTime - this.step] : null;
  }

  private trim(): void {
    if (this.bars.length <= MAX_BARS) return;
    for (const b of this.bars.splice(0, this.bars.length - MAX_BARS)) this.barRevs.delete(b.time);
  }

  private noteGenTime(time: number): void {
    if (this.genLowTime === null || time < this.genLowTime) this.genLowTime = time;
    if (this.gapFrom !== null && this.genLowTime <= this.gapFrom + this.step) this.gapFrom = null; // joined up
  }
}

/** First index whose `time` is >= `time` (list ascending by time). */
export function lowerBound(list: readonly { time: number }[], time: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].time < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

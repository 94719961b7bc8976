import { describe, expect, it } from 'vitest';
import { BarSeries } from '../../dashboard/src/bar-series.ts';
import { sessionBars } from '../../dashboard/src/session.ts';
import type { Timeframe } from '../../dashboard/src/timeframes.ts';
import type { Bar } from '../../protocol/feeds.ts';

const T0 = 1_764_100_000 - (1_764_100_000 % 3600);
const series = (step: number, from: number, n: number) => {
  const s = new BarSeries(step);
  for (let i = 0; i < n; i++) {
    const bar: Bar = { symbol: 'AAPL', time: from + i * step, open: 1, high: 1, low: 1, close: 1, volume: 1 };
    s.apply(bar, i + 1);
  }
  return s;
};

describe('sessionBars', () => {
  it('#sessionBars picks the finest series that covers the whole session', () => {
    const frames = new Map<Timeframe, BarSeries>([
      ['1s', series(1, T0 + 82_800, 3600)], // the last hour
      ['1m', series(60, T0, 1440)], // the day
      ['5m', series(300, T0, 288)],
      ['1h', series(3600, T0, 24)],
    ]);
    expect(sessionBars(frames)).toBe(frames.get('1m')!.bars);
  });

  it('#sessionBars falls back to what there is, and [] when nothing is held', () => {
    expect(sessionBars(new Map())).toEqual([]);
    const one = new Map<Timeframe, BarSeries>([['5m', series(300, T0, 1)]]);
    expect(sessionBars(one)).toBe(one.get('5m')!.bars);
    const live = new Map<Timeframe, BarSeries>([['1s', series(1, T0, 30)], ['1m', series(60, T0, 1)]]);
    expect(sessionBars(live)).toBe(live.get('1s')!.bars);
  });
});

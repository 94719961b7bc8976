import { describe, expect, it } from 'vitest';
import type { Tick } from '../../protocol/feeds.ts';
import { BarAggregator } from '../../simulator/bars.ts';

const T0 = Date.UTC(2024, 0, 2, 14, 30, 0); // a whole second: 1704205800000
const tick = (last: number, size = 100, symbol = 'AAPL'): Tick => ({ symbol, bid: last - 0.01, ask: last + 0.01, last, size });

describe('BarAggregator', () => {
  describe('#update', () => {
    it('opens a bar at the Unix second of the first tick (UTC)', () => {
      const bars = new BarAggregator('AAPL');
      const { bar, closed } = bars.update(tick(190.5, 30), T0 + 999);
      expect(bar).toEqual({ symbol: 'AAPL', time: 1704205800, open: 190.5, high: 190.5, low: 190.5, close: 190.5, volume: 30 });
      expect(closed).toBeNull();
    });

    it('updates high, low, close and volume within the second and keeps the open', () => {
      const bars = new BarAggregator('AAPL');
      bars.update(tick(190.5, 10), T0);
      bars.update(tick(191.25, 20), T0 + 100);
      bars.update(tick(189.75, 5), T0 + 500);
      const { bar, closed } = bars.update(tick(190.0, 1), T0 + 999);
      expect(bar).toEqual({ symbol: 'AAPL', time: T0 / 1000, open: 190.5, high: 191.25, low: 189.75, close: 190, volume: 36 });
      expect(closed).toBeNull();
    });

    it('rolls to a new bar when the second changes and hands back the closed one', () => {
      const bars = new BarAggregator('AAPL');
      bars.update(tick(100, 1), T0 + 10);
      bars.update(tick(101, 2), T0 + 990);
      const { bar, closed } = bars.update(tick(99, 3), T0 + 1000);
      expect(closed).toEqual({ symbol: 'AAPL', time: T0 / 1000, open: 100, high: 101, low: 100, close: 101, volume: 3 });
      expect(bar).toEqual({ symbol: 'AAPL', time: T0 / 1000 + 1, open: 99, high: 99, low: 99, close: 99, volume: 3 });
    });

    it('skips empty seconds rather than inventing bars', () => {
      const bars = new BarAggregator('AAPL');
      bars.update(tick(100), T0);
      const { bar, closed } = bars.update(tick(102), T0 + 5_250);
      expect(closed?.time).toBe(T0 / 1000);
      expect(bar.time).toBe(T0 / 1000 + 5);
      expect(bar.open).toBe(102);
    });

    it('folds a tick stamped in an earlier second into the bar in progress', () => {
      const bars = new BarAggregator('AAPL');
      bars.update(tick(100, 1), T0 + 1_000);
      const { bar, closed } = bars.update(tick(98, 1), T0 + 400);
      expect(closed).toBeNull();
      expect(bar).toMatchObject({ time: T0 / 1000 + 1, open: 100, low: 98, close: 98, volume: 2 });
    });

    it('returns copies that later ticks do not change', () => {
      const bars = new BarAggregator('AAPL');
      const first = bars.update(tick(100, 1), T0).bar;
      bars.update(tick(105, 1), T0 + 1);
      expect(first).toMatchObject({ high: 100, close: 100, volume: 1 });
      first.close = -1;
      expect(bars.peek()?.close).toBe(105);
    });

    it('sums fractional volumes without float drift', () => {
      const bars = new BarAggregator('BTC-USD');
      bars.update(tick(67000, 0.1, 'BTC-USD'), T0);
      const { bar } = bars.update(tick(67000.5, 0.2, 'BTC-USD'), T0 + 1);
      expect(bar.volume).toBe(0.3);
    });

    it('takes prices from last, not from bid or ask', () => {
      const bars = new BarAggregator('AAPL');
      const { bar } = bars.update({ symbol: 'AAPL', bid: 1, ask: 3, last: 2, size: 1 }, T0);
      expect([bar.open, bar.high, bar.low, bar.close]).toEqual([2, 2, 2, 2]);
    });

    it('rejects ticks of another symbol and bad timestamps', () => {
      const bars = new BarAggregator('AAPL');
      expect(() => bars.update(tick(1, 1, 'MSFT'), T0)).toThrow(/MSFT/);
      expect(() => bars.update(tick(1), Number.NaN)).toThrow(/timestamp/);
      expect(bars.peek()).toBeNull();
    });
  });
});

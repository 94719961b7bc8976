import { describe, expect, it } from 'vitest';
import { ladderRows } from '../../dashboard/src/ladder-rows.ts';

describe('ladderRows', () => {
  it('#ladderRows keeps the best levels per side with cumulative sizes, spread and mid', () => {
    const l = ladderRows(
      [[99.5, 2], [99, 4], [98.5, 6]],
      [[100.5, 1], [101, 3]],
      2,
    );
    expect(l.bids.map((r) => [r.price, r.size, r.cum])).toEqual([[99.5, 2, 2], [99, 4, 6]]);
    expect(l.asks.map((r) => [r.price, r.size, r.cum])).toEqual([[100.5, 1, 1], [101, 3, 4]]);
    expect(l.spread).toBe(1);
    expect(l.mid).toBe(100);
    expect(l.spreadBps).toBeCloseTo(100);
  });

  it('#ladderRows scales bars across both sides: the largest size and the deepest cum are 1', () => {
    const l = ladderRows([[10, 5], [9, 5]], [[11, 2]], 10);
    expect(l.bids.map((r) => r.sizeFrac)).toEqual([1, 1]);
    expect(l.asks[0].sizeFrac).toBeCloseTo(0.4);
    expect(l.bids.map((r) => r.cumFrac)).toEqual([0.5, 1]);
    expect(l.asks[0].cumFrac).toBeCloseTo(0.2);
  });

  it('#ladderRows skips empty or broken levels and reports no spread for a one-sided book', () => {
    const l = ladderRows([[10, 0], [9, 1], [Number.NaN, 3]], [], 10);
    expect(l.bids.map((r) => r.price)).toEqual([9]);
    expect(l.asks).toEqual([]);
    expect(l.spread).toBeNull();
    expect(l.mid).toBeNull();
    expect(ladderRows([], [], 5).bids).toEqual([]);
  });
});

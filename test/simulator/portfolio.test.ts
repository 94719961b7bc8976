import { beforeEach, describe, expect, it } from 'vitest';
import { Portfolio } from '../../simulator/portfolio.ts';
import { Random } from '../../simulator/random.ts';

const buy = (symbol: string, qty: number, price: number) => ({ symbol, side: 'buy' as const, qty, price });
const sell = (symbol: string, qty: number, price: number) => ({ symbol, side: 'sell' as const, qty, price });

describe('Portfolio', () => {
  let p: Portfolio;
  beforeEach(() => {
    p = new Portfolio();
  });

  describe('#applyFill', () => {
    it('opens a long at the fill price', () => {
      p.applyFill(buy('AAPL', 100, 10));
      expect(p.position('AAPL')).toEqual({ symbol: 'AAPL', qty: 100, avgPrice: 10, last: 10, realized: 0, unrealized: 0 });
    });

    it('adds to a long at the size-weighted average price', () => {
      p.applyFill(buy('AAPL', 100, 10));
      p.applyFill(buy('AAPL', 50, 13));
      // (100*10 + 50*13) / 150 = 1650 / 150 = 11
      expect(p.position('AAPL')).toMatchObject({ qty: 150, avgPrice: 11, realized: 0 });
    });

    it('realizes a partial close of a long and keeps the average of the rest', () => {
      p.applyFill(buy('AAPL', 100, 10));
      p.applyFill(buy('AAPL', 50, 13)); // 150 @ 11
      p.applyFill(sell('AAPL', 60, 14)); // realizes 60 * (14 - 11) = 180
      p.mark('AAPL', 14);
      // unrealized 90 * (14 - 11) = 270
      expect(p.position('AAPL')).toEqual({ symbol: 'AAPL', qty: 90, avgPrice: 11, last: 14, realized: 180, unrealized: 270 });
      expect(p.snapshot(0)).toMatchObject({ realized: 180, unrealized: 270, total: 450 });
    });

    it('closes a long: qty 0, average 0, realized kept, unrealized 0', () => {
      p.applyFill(buy('AAPL', 150, 11));
      p.applyFill(sell('AAPL', 60, 14)); // +180
      p.applyFill(sell('AAPL', 90, 9)); // 90 * (9 - 11) = -180
      p.mark('AAPL', 20);
      expect(p.position('AAPL')).toEqual({ symbol: 'AAPL', qty: 0, avgPrice: 0, last: 20, realized: 0, unrealized: 0 });
    });

    it('opens a short with negative qty and profits when the price falls', () => {
      p.applyFill(sell('MSFT', 100, 50));
      p.mark('MSFT', 48);
      // (48 - 50) * -100 = +200
      expect(p.position('MSFT')).toMatchObject({ qty: -100, avgPrice: 50, unrealized: 200, realized: 0 });
      p.mark('MSFT', 53);
      expect(p.position('MSFT')).toMatchObject({ unrealized: -300 });
    });

    it('adds to a short at the weighted average and realizes a partial cover', () => {
      p.applyFill(sell('MSFT', 100, 50));
      p.applyFill(sell('MSFT', 100, 52)); // -200 @ 51
      p.mark('MSFT', 53);
      expect(p.position('MSFT')).toMatchObject({ qty: -200, avgPrice: 51, unrealized: -400 });
      p.applyFill(buy('MSFT', 50, 49)); // covers 50: 50 * (51 - 49) = +100
      p.mark('MSFT', 49);
      // -150 @ 51 marked at 49: (49 - 51) * -150 = +300
      expect(p.position('MSFT')).toEqual({ symbol: 'MSFT', qty: -150, avgPrice: 51, last: 49, realized: 100, unrealized: 300 });
    });

    it('loses on covering a short higher', () => {
      p.applyFill(sell('MSFT', 10, 100));
      p.applyFill(buy('MSFT', 10, 104.5)); // 10 * (100 - 104.5) = -45
      expect(p.position('MSFT')).toMatchObject({ qty: 0, avgPrice: 0, realized: -45 });
    });

    it('flips long to short: realizes the long, opens the rest at the fill price', () => {
      p.applyFill(buy('NVDA', 100, 20));
      p.applyFill(sell('NVDA', 150, 25)); // closes 100: +500; opens -50 @ 25
      p.mark('NVDA', 24);
      // (24 - 25) * -50 = +50
      expect(p.position('NVDA')).toEqual({ symbol: 'NVDA', qty: -50, avgPrice: 25, last: 24, realized: 500, unrealized: 50 });
      expect(p.snapshot(0)).toMatchObject({ realized: 500, unrealized: 50, total: 550 });
    });

    it('flips short to long', () => {
      p.applyFill(sell('NVDA', 10, 100));
      p.applyFill(buy('NVDA', 30, 90)); // closes 10: 10 * (100 - 90) = +100; opens +20 @ 90
      p.mark('NVDA', 95);
      expect(p.position('NVDA')).toEqual({ symbol: 'NVDA', qty: 20, avgPrice: 90, last: 95, realized: 100, unrealized: 100 });
    });

    it('flips with a loss and then adds to the new side', () => {
      p.applyFill(buy('NVDA', 10, 50));
      p.applyFill(sell('NVDA', 30, 45)); // 10 * (45 - 50) = -50; -20 @ 45
      p.applyFill(sell('NVDA', 20, 47)); // -40 @ 46
      p.applyFill(buy('NVDA', 40, 44)); // 40 * (46 - 44) = +80; flat
      expect(p.position('NVDA')).toMatchObject({ qty: 0, avgPrice: 0, realized: 30, unrealized: 0 });
    });

    it('leaves exactly zero after fractional lots that do not add up in binary', () => {
      for (let i = 0; i < 3; i++) p.applyFill(buy('BTC-USD', 0.1, 100.1));
      expect(p.qty('BTC-USD')).toBe(0.3);
      p.applyFill(sell('BTC-USD', 0.3, 100.2)); // 0.3 * 0.1 = 0.03
      expect(p.position('BTC-USD')).toMatchObject({ qty: 0, avgPrice: 0, realized: 0.03, unrealized: 0 });
    });

    it('rounds money to cents: an FX pip gain is exactly 12.00', () => {
      p.applyFill(buy('EURUSD', 100_000, 1.085));
      p.applyFill(sell('EURUSD', 100_000, 1.08512)); // 100000 * 0.00012 = 12 (11.99999... in floats)
      expect(p.position('EURUSD')!.realized).toBe(12);
    });

    it('rounds half a cent away from zero, both ways', () => {
      p.applyFill(buy('X', 1, 1.005));
      p.mark('X', 1); // -0.005
      expect(p.position('X')!.unrealized).toBe(-0.01);
      p.mark('X', 1.01); // +0.005
      expect(p.position('X')!.unrealized).toBe(0.01);
    });

    it('rounds the average price to 6 decimals for display only', () => {
      p.applyFill(buy('AAPL', 1, 10));
      p.applyFill(buy('AAPL', 2, 10.01)); // 30.02 / 3 = 10.00666...
      p.mark('AAPL', 10.01);
      expect(p.position('AAPL')).toMatchObject({ avgPrice: 10.006667, unrealized: 0.01 });
      p.applyFill(sell('AAPL', 3, 10.01)); // proceeds 30.03 - cost 30.02 = 0.01
      expect(p.position('AAPL')).toMatchObject({ qty: 0, realized: 0.01 });
    });

    it('uses the fill price as last until the first mark, then keeps the market last', () => {
      p.applyFill(buy('AAPL', 10, 100));
      expect(p.position('AAPL')).toMatchObject({ last: 100, unrealized: 0 });
      p.mark('AAPL', 99);
      p.applyFill(buy('AAPL', 10, 101)); // our own fill does not move the market's last
      expect(p.position('AAPL')).toMatchObject({ qty: 20, avgPrice: 100.5, last: 99, unrealized: -30 });
    });

    it('rejects bad fills', () => {
      expect(() => p.applyFill(buy('AAPL', 0, 10))).toThrow(/qty/);
      expect(() => p.applyFill(buy('AAPL', -5, 10))).toThrow(/qty/);
      expect(() => p.applyFill(buy('AAPL', 5, 0))).toThrow(/price/);
      expect(() => p.applyFill(buy('AAPL', Number.NaN, 10))).toThrow(/qty/);
      expect(() => p.applyFill({ symbol: 'AAPL', side: 'hold' as 'buy', qty: 1, price: 1 })).toThrow(/side/);
      expect(() => p.mark('AAPL', -1)).toThrow(/price/);
      expect(p.snapshot(0).positions).toEqual([]);
    });
  });

  describe('#snapshot', () => {
    it('is empty and zero before any fill', () => {
      p.mark('AAPL', 100);
      expect(p.snapshot(123)).toEqual({ time: 123, realized: 0, unrealized: 0, total: 0, positions: [] });
    });

    it('lists positions in order of first fill and sums them', () => {
      p.applyFill(sell('MSFT', 10, 400)); // short
      p.applyFill(buy('AAPL', 100, 200));
      p.applyFill(buy('MSFT', 4, 390)); // +40
      p.mark('MSFT', 395); // (395 - 400) * -6 = +30
      p.mark('AAPL', 199.5); // -50
      const snap = p.snapshot(1_700_000_000_000);
      expect(snap.positions.map((x) => x.symbol)).toEqual(['MSFT', 'AAPL']);
      expect(snap).toMatchObject({ time: 1_700_000_000_000, realized: 40, unrealized: -20, total: 20 });
    });

    it('keeps totals equal to the sum of the displayed positions', () => {
      // Each position realizes 0.004, displayed as 0.00: the total shows 0.00 too, not 0.01.
      p.applyFill(buy('A', 1, 1));
      p.applyFill(sell('A', 1, 1.004));
      p.applyFill(buy('B', 1, 1));
      p.applyFill(sell('B', 1, 1.004));
      p.applyFill(buy('C', 1, 1));
      p.applyFill(sell('C', 1, 1.004));
      const snap = p.snapshot(0);
      expect(snap.positions.map((x) => x.realized)).toEqual([0, 0, 0]);
      expect(snap.realized).toBe(0);
    });

    it('never shows -0', () => {
      p.applyFill(sell('A', 1, 10));
      p.mark('A', 10.001); // -0.001 rounds to 0
      const snap = p.snapshot(0);
      expect(Object.is(snap.positions[0].unrealized, 0)).toBe(true);
      expect(Object.is(snap.unrealized, 0)).toBe(true);
    });

    it('agrees with cash-flow accounting over many random fills (total = cash + qty * last)', () => {
      const rng = new Random(2024);
      const cash = new Map<string, number>();
      const qty = new Map<string, number>();
      const last = new Map<string, number>();
      for (let i = 0; i < 2000; i++) {
        const symbol = ['A', 'B', 'C'][rng.int(0, 2)];
        const price = rng.int(9000, 11000) / 100;
        const q = rng.int(1, 30);
        const side = rng.chance(0.5) ? 'buy' : 'sell';
        p.applyFill({ symbol, side, qty: q, price });
        const signed = side === 'buy' ? q : -q;
        cash.set(symbol, (cash.get(symbol) ?? 0) - signed * price);
        qty.set(symbol, (qty.get(symbol) ?? 0) + signed);
        const mark = rng.int(9000, 11000) / 100;
        p.mark(symbol, mark);
        last.set(symbol, mark);

        if (i % 50 === 0) {
          const snap = p.snapshot(i);
          let expectedTotal = 0;
          for (const pos of snap.positions) {
            const total = cash.get(pos.symbol)! + qty.get(pos.symbol)! * last.get(pos.symbol)!;
            expectedTotal += total;
            expect(pos.qty).toBe(qty.get(pos.symbol));
            expect(Math.abs(pos.realized + pos.unrealized - total)).toBeLessThanOrEqual(0.011);
          }
          expect(Math.abs(snap.total - expectedTotal)).toBeLessThanOrEqual(0.011 * snap.positions.length);
          expect(snap.total).toBeCloseTo(snap.realized + snap.unrealized, 9);
        }
      }
    });
  });
});

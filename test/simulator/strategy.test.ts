import { describe, expect, it } from 'vitest';
import type { Tick } from '../../protocol/feeds.ts';
import { Executor, MeanReversion, type Order } from '../../simulator/strategy.ts';

const quote = (mid: number, symbol = 'AAPL'): Tick => ({ symbol, bid: mid - 0.01, ask: mid + 0.01, last: mid + 0.01, size: 1 });

/** Feed mids, applying each order to a local position; returns the order (or null) per tick and the positions. */
function drive(strategy: MeanReversion, mids: number[]): { orders: (Order | null)[]; positions: number[] } {
  let position = 0;
  const orders: (Order | null)[] = [];
  const positions: number[] = [];
  for (const mid of mids) {
    const order = strategy.onTick(quote(mid), position);
    if (order) position += order.side === 'buy' ? order.qty : -order.qty;
    orders.push(order);
    positions.push(position);
  }
  return { orders, positions };
}

const small = { window: 5, entryZ: 1.5, cooldownTicks: 0, maxOrders: 2 };

describe('MeanReversion', () => {
  describe('#onTick', () => {
    it('waits for a full window', () => {
      const s = new MeanReversion('AAPL', 10, small);
      // A crash within the first four ticks is no signal yet.
      expect(drive(s, [100, 100, 100, 90]).orders).toEqual([null, null, null, null]);
    });

    it('does not trade a flat market', () => {
      const s = new MeanReversion('AAPL', 10, small);
      expect(drive(s, Array(20).fill(100)).orders.every((o) => o === null)).toBe(true);
    });

    it('buys dips, respects the limit, takes profit, flips and closes', () => {
      const s = new MeanReversion('AAPL', 10, small);
      const { orders, positions } = drive(s, [100, 100.02, 100, 100.02, 100, 99, 98, 97, 101, 104, 104, 95]);
      expect(orders.slice(0, 5)).toEqual([null, null, null, null, null]); // quiet: |z| < 1.5
      expect(orders[5]).toEqual({ symbol: 'AAPL', side: 'buy', qty: 10 }); // z = -2.0: buy the dip
      expect(orders[6]).toEqual({ symbol: 'AAPL', side: 'buy', qty: 10 }); // z = -1.75: add
      expect(orders[7]).toBeNull(); // z = -1.54 but at the 2 x 10 limit
      expect(orders[8]).toEqual({ symbol: 'AAPL', side: 'sell', qty: 10 }); // z = +1.41: above the mean, take profit
      expect(orders[9]).toEqual({ symbol: 'AAPL', side: 'sell', qty: 20 }); // z = +1.69 while long 10: flip to -10
      expect(orders[10]).toBeNull(); // z = +1.09: short and still above the mean, hold
      expect(orders[11]).toEqual({ symbol: 'AAPL', side: 'buy', qty: 10 }); // z = -1.42: below the mean, cover
      expect(positions).toEqual([0, 0, 0, 0, 0, 10, 20, 20, 10, -10, -10, 0]);
    });

    it('never exceeds the position limit on a long one-way slide', () => {
      const s = new MeanReversion('AAPL', 10, { ...small, maxOrders: 3 });
      const mids = Array.from({ length: 200 }, (_, i) => 100 - i * 0.1 - (i % 2) * 0.05);
      const { positions } = drive(s, mids);
      expect(Math.max(...positions.map(Math.abs))).toBe(30);
    });

    it('waits cooldownTicks between orders', () => {
      const s = new MeanReversion('AAPL', 10, { ...small, cooldownTicks: 3, maxOrders: 10 });
      // An accelerating fall keeps z below -1.5 on every tick.
      const mids = [100, 100.02, 100, 100.02, 100, ...Array.from({ length: 12 }, (_, k) => 100 - (k + 1) ** 2 * 0.1)];
      const { orders } = drive(s, mids);
      const at = orders.flatMap((o, i) => (o ? [i] : []));
      expect(at.length).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < at.length; i++) expect(at[i] - at[i - 1]).toBeGreaterThanOrEqual(3);
    });

    it('snaps fractional quantities so flips stay exact', () => {
      const s = new MeanReversion('AAPL', 0.1, small);
      // Long 0.2 (0.1 + 0.1 = 0.2 but 0.1 * 3 = 0.30000000000000004) flips with qty 0.3.
      drive(s, [100, 100.02, 100, 100.02, 100]);
      const order = s.onTick(quote(104), 0.1 + 0.1);
      expect(order).toEqual({ symbol: 'AAPL', side: 'sell', qty: 0.3 });
    });

    it('validates its parameters', () => {
      expect(() => new MeanReversion('AAPL', 10, { window: 1 })).toThrow(/window/);
      expect(() => new MeanReversion('AAPL', 10, { entryZ: 0 })).toThrow(/entryZ/);
      expect(() => new MeanReversion('AAPL', 10, { maxOrders: 0 })).toThrow(/maxOrders/);
      expect(() => new MeanReversion('AAPL', 0)).toThrow(/orderQty/);
      expect(() => new MeanReversion('AAPL', 10).onTick(quote(1, 'MSFT'), 0)).toThrow(/MSFT/);
    });
  });
});

describe('Executor', () => {
  describe('#fill', () => {
    it('buys at the ask, sells at the bid, with ids counting up from 1', () => {
      const ex = new Executor();
      const t: Tick = { symbol: 'AAPL', bid: 189.99, ask: 190.01, last: 190.01, size: 5 };
      expect(ex.fill({ symbol: 'AAPL', side: 'buy', qty: 100 }, t, 1000)).toEqual({ id: 1, symbol: 'AAPL', side: 'buy', qty: 100, price: 190.01, time: 1000 });
      expect(ex.fill({ symbol: 'AAPL', side: 'sell', qty: 50 }, t, 1001)).toEqual({ id: 2, symbol: 'AAPL', side: 'sell', qty: 50, price: 189.99, time: 1001 });
      expect(ex.fill({ symbol: 'AAPL', side: 'sell', qty: 1 }, t, 1002).id).toBe(3);
      expect(() => ex.fill({ symbol: 'MSFT', side: 'buy', qty: 1 }, t, 0)).toThrow(/MSFT/);
    });
  });
});

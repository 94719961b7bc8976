import { describe, expect, it } from 'vitest';
import type { Tick } from '../../protocol/feeds.ts';
import { DEFAULT_SPECS, DEFAULT_SYMBOLS, Market, SymbolMarket, resolveSymbols, type SymbolSpec } from '../../simulator/market.ts';
import { Random } from '../../simulator/random.ts';

const spec = (symbol: string): SymbolSpec => DEFAULT_SPECS.find((s) => s.symbol === symbol)!;

function run(market: Market, steps: number, dtMs = 200): Tick[][] {
  return Array.from({ length: steps }, () => market.step(dtMs));
}

/** True if `price` is a whole number of `tick`s and prints with no more decimals than the tick. */
function onGrid(price: number, tick: number): boolean {
  const decimals = tick >= 1 ? 0 : Math.round(-Math.log10(tick) + 0.49999);
  const ticks = price / tick;
  return Math.abs(ticks - Math.round(ticks)) < 1e-6 && Number(price.toFixed(Math.max(decimals, 1))) === price;
}

describe('Market', () => {
  describe('#step', () => {
    it('is deterministic for a seed', () => {
      const a = run(new Market({ seed: 42 }), 300);
      const b = run(new Market({ seed: 42 }), 300);
      expect(a).toEqual(b);
      expect(a[299]).toHaveLength(6);
    });

    it('gives a different market for another seed', () => {
      const a = run(new Market({ seed: 42 }), 50).flat();
      const b = run(new Market({ seed: 43 }), 50).flat();
      const same = a.filter((t, i) => t.last === b[i].last && t.size === b[i].size).length;
      expect(same).toBeLessThan(a.length / 2);
    });

    it("keeps a symbol's path independent of the other symbols in the run", () => {
      const alone = run(new Market({ seed: 9, symbols: ['NVDA'] }), 200).map((ts) => ts[0]);
      const mixed = run(new Market({ seed: 9, symbols: ['AAPL', 'NVDA', 'EURUSD'] }), 200).map((ts) => ts[1]);
      expect(mixed).toEqual(alone);
    });

    it('emits one tick per symbol in symbol order, with the Tick shape', () => {
      const ticks = new Market({ seed: 1 }).step(200);
      expect(ticks.map((t) => t.symbol)).toEqual([...DEFAULT_SYMBOLS]);
      for (const t of ticks) expect(Object.keys(t).sort()).toEqual(['ask', 'bid', 'last', 'size', 'symbol']);
    });

    it.each(DEFAULT_SPECS.map((s) => [s.symbol, s.tickSize] as const))('rounds %s prices to its tick size %d', (symbol, tickSize) => {
      const market = new Market({ seed: 5, symbols: [symbol], speed: 3600 });
      for (const [t] of run(market, 2000)) {
        for (const price of [t.bid, t.ask, t.last]) {
          if (!onGrid(price, tickSize)) throw new Error(`${symbol}: ${price} is not on the ${tickSize} grid`);
        }
      }
    });

    it('never prints float artefacts such as 189.99000000000001', () => {
      const market = new Market({ seed: 11, speed: 3600 });
      for (const ticks of run(market, 1000)) {
        for (const t of ticks) {
          for (const p of [t.bid, t.ask, t.last]) expect(String(p)).not.toMatch(/\d{9,}/);
          expect(String(t.size)).not.toMatch(/\d\.\d{9,}/);
        }
      }
    });

    it('keeps bid < ask, the spread at least spreadTicks, and last at the bid or the ask', () => {
      const market = new Market({ seed: 3, speed: 3600 });
      for (const ticks of run(market, 2000)) {
        for (const t of ticks) {
          const s = spec(t.symbol);
          expect(t.bid).toBeLessThan(t.ask);
          expect(Math.round((t.ask - t.bid) / s.tickSize)).toBeGreaterThanOrEqual(s.spreadTicks);
          expect(Math.round((t.ask - t.bid) / s.tickSize)).toBeLessThanOrEqual(2 * s.spreadTicks);
          expect([t.bid, t.ask]).toContain(t.last);
        }
      }
    });

    it('trades both sides and makes sizes positive whole lots', () => {
      const ticks = run(new Market({ seed: 8, symbols: ['BTC-USD', 'EURUSD'] }), 2000).flat();
      for (const t of ticks) {
        const lot = spec(t.symbol).lotSize;
        expect(t.size).toBeGreaterThan(0);
        expect(Math.abs(t.size / lot - Math.round(t.size / lot))).toBeLessThan(1e-6);
      }
      const btc = ticks.filter((t) => t.symbol === 'BTC-USD');
      const atAsk = btc.filter((t) => t.last === t.ask).length;
      expect(atAsk / btc.length).toBeGreaterThan(0.4);
      expect(atAsk / btc.length).toBeLessThan(0.6);
      // Log-normal around the median: about half the trades are below it.
      const below = btc.filter((t) => t.size < spec('BTC-USD').medianSize).length;
      expect(below / btc.length).toBeGreaterThan(0.4);
      expect(below / btc.length).toBeLessThan(0.6);
    });

    it('starts near the start price', () => {
      for (const t of new Market({ seed: 2 }).step(200)) {
        const s = spec(t.symbol);
        expect(Math.abs(t.last - s.startPrice)).toBeLessThanOrEqual(3 * s.spreadTicks * s.tickSize + s.startPrice * 0.001);
      }
    });

    it('does not move with zero volatility and drift', () => {
      const flat: SymbolSpec = { ...spec('AAPL'), symbol: 'FLAT', drift: 0, volatility: 0, spreadTicks: 2, startPrice: 100 };
      const m = new SymbolMarket(flat, new Random(1));
      for (let i = 0; i < 100; i++) {
        const t = m.step(1000);
        expect(m.mid).toBe(100);
        expect(t.bid).toBeGreaterThanOrEqual(99.98);
        expect(t.ask).toBeLessThanOrEqual(100.02);
      }
    });

    it('follows GBM: log returns have sd sigma*sqrt(dt)', () => {
      const s: SymbolSpec = { ...spec('NVDA'), drift: 0, volatility: 0.5 };
      const m = new SymbolMarket(s, new Random(77));
      const dayMs = 86_400_000;
      const returns: number[] = [];
      let prev = m.mid;
      for (let i = 0; i < 20_000; i++) {
        m.step(dayMs);
        returns.push(Math.log(m.mid / prev));
        prev = m.mid;
      }
      const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
      const sd = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / (returns.length - 1));
      const expected = 0.5 * Math.sqrt(1 / 365.25);
      expect(sd).toBeGreaterThan(expected * 0.97);
      expect(sd).toBeLessThan(expected * 1.03);
      // Ito correction: the mean log return is -sigma^2/2 * dt.
      expect(mean).toBeCloseTo((-0.25 / 2) / 365.25, 3);
    });

    it('speed scales market time', () => {
      const slow = new SymbolMarket(spec('AAPL'), new Random(4), 1);
      const fast = new SymbolMarket(spec('AAPL'), new Random(4), 3600);
      slow.step(1000);
      fast.step(1000);
      const slowMove = Math.abs(Math.log(slow.mid / 228.5));
      const fastMove = Math.abs(Math.log(fast.mid / 228.5));
      // Same normal draw, so the moves differ by ~sqrt(3600) = 60.
      expect(fastMove / slowMove).toBeGreaterThan(55);
      expect(fastMove / slowMove).toBeLessThan(65);
    });

    it('keeps the bid at least one tick above zero', () => {
      const crash: SymbolSpec = { ...spec('AAPL'), symbol: 'CRASH', startPrice: 0.05, drift: -500, volatility: 0.1 };
      const m = new SymbolMarket(crash, new Random(1));
      for (let i = 0; i < 50; i++) {
        const t = m.step(86_400_000);
        expect(t.bid).toBeGreaterThanOrEqual(0.01);
        expect(t.ask).toBeGreaterThan(t.bid);
      }
    });

    it('rejects a negative or non-finite dt', () => {
      const m = new Market({ seed: 1 });
      expect(() => m.step(-1)).toThrow(/dtMs/);
      expect(() => m.step(Number.NaN)).toThrow(/dtMs/);
    });
  });
});

describe('resolveSymbols', () => {
  it('defaults to the six default symbols', () => {
    expect(resolveSymbols().map((s) => s.symbol)).toEqual(['AAPL', 'MSFT', 'NVDA', 'BTC-USD', 'ETH-USD', 'EURUSD']);
  });

  it('uses the requested tick sizes', () => {
    const ticks = Object.fromEntries(resolveSymbols().map((s) => [s.symbol, s.tickSize]));
    expect(ticks).toMatchObject({ AAPL: 0.01, MSFT: 0.01, NVDA: 0.01, 'ETH-USD': 0.01, EURUSD: 0.00001 });
    expect([0.01, 0.5]).toContain(ticks['BTC-USD']);
  });

  it('rejects unknown symbols, listing the known ones', () => {
    expect(() => resolveSymbols(['AAPL', 'TSLA'])).toThrow(/unknown symbol "TSLA".*AAPL, MSFT/);
  });

  it('rejects duplicates and empty lists', () => {
    expect(() => resolveSymbols(['AAPL', 'AAPL'])).toThrow(/duplicate symbol "AAPL"/);
    expect(() => resolveSymbols([])).toThrow(/at least one/);
  });

  it('accepts custom specs and names the bad field of an invalid one', () => {
    const custom = { ...spec('AAPL'), symbol: 'ACME' };
    expect(resolveSymbols([custom])[0].symbol).toBe('ACME');
    expect(() => resolveSymbols([{ ...custom, tickSize: 0 }])).toThrow(/tickSize/);
    expect(() => resolveSymbols([{ ...custom, spreadTicks: 1.5 }])).toThrow(/spreadTicks/);
    expect(() => resolveSymbols([{ ...custom, symbol: 'A.B' }])).toThrow(/symbol/);
  });
});

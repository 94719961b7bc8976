import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Bar, Fill, PnlSnapshot, Tick } from '../../protocol/feeds.ts';
import { BarAggregator } from '../../simulator/bars.ts';
import { cents } from '../../simulator/decimal.ts';
import { Portfolio } from '../../simulator/portfolio.ts';
import { createSimulator, type FeedPayload, type SimulatorOptions } from '../../simulator/simulator.ts';

const T0 = Date.UTC(2024, 5, 3, 13, 30, 0);

interface Published {
  topic: string;
  data: FeedPayload;
  at: number;
}

/** A simulator driven by a fake clock: `ticks` calls of tick(T0 + i * 1000/rate). */
function runFake(ticks: number, options: Partial<SimulatorOptions> = {}): { log: Published[]; stats: ReturnType<ReturnType<typeof createSimulator>['stats']> } {
  const log: Published[] = [];
  let now = T0;
  const sim = createSimulator({ seed: 7, ticksPerSecond: 5, publish: (topic, data) => void log.push({ topic, data, at: now }), ...options });
  const step = 1000 / (options.ticksPerSecond ?? 5);
  for (let i = 0; i < ticks; i++) {
    now = T0 + i * step;
    sim.tick(now);
  }
  return { log, stats: sim.stats() };
}

const of = <T extends FeedPayload>(log: Published[], topic: string) => log.filter((m) => m.topic === topic).map((m) => m.data as T);

describe('Simulator', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('#tick', () => {
    it('publishes per symbol, in symbol order: tick, trade, bars, book; pnl last', () => {
      const { log } = runFake(1, { symbols: ['AAPL', 'BTC-USD'] });
      const perSymbol = (s: string) => [`ticks.${s}`, `trades.${s}`, ...['1s', '1m', '5m', '15m', '1h'].map((tf) => `bars.${tf}.${s}`), `book.${s}`, `book.snapshot.${s}`];
      expect(log.map((m) => m.topic)).toEqual([...perSymbol('AAPL'), ...perSymbol('BTC-USD'), 'pnl']); // the first tick always publishes P&L
    });

    it('publishes only the feed topics, with the feeds.ts shapes', () => {
      const { log } = runFake(500);
      const topics = new Set(log.map((m) => m.topic));
      const symbols = ['AAPL', 'MSFT', 'NVDA', 'BTC-USD', 'ETH-USD', 'EURUSD'];
      const perSymbol = (s: string) => [`ticks.${s}`, `trades.${s}`, ...['1s', '1m', '5m', '15m', '1h'].map((tf) => `bars.${tf}.${s}`), `book.${s}`, `book.snapshot.${s}`];
      expect([...topics].sort()).toEqual([...symbols.flatMap(perSymbol), 'fills', 'pnl'].sort());
      const keys = (o: object) => Object.keys(o).sort();
      for (const { topic, data } of log) {
        if (topic.startsWith('ticks.')) expect(keys(data)).toEqual(['ask', 'bid', 'last', 'size', 'symbol']);
        else if (topic.startsWith('bars.')) expect(keys(data)).toEqual(['close', 'high', 'low', 'open', 'symbol', 'time', 'volume']);
        else if (topic.startsWith('trades.')) expect(keys(data)).toEqual(['id', 'price', 'side', 'size', 'symbol', 'time']);
        else if (topic.startsWith('book.')) expect(keys(data)).toEqual(['asks', 'bids', 'checksum', 'seq', 'symbol', 'time', 'type']);
        else if (topic === 'fills') expect(keys(data)).toEqual(['id', 'price', 'qty', 'side', 'symbol', 'time']);
        else {
          const snap = data as PnlSnapshot;
          expect(keys(snap)).toEqual(['positions', 'realized', 'time', 'total', 'unrealized']);
          for (const p of snap.positions) expect(keys(p)).toEqual(['avgPrice', 'last', 'qty', 'realized', 'symbol', 'unrealized']);
        }
        if ('symbol' in data && topic !== 'fills') expect(topic.endsWith(`.${data.symbol}`)).toBe(true);
      }
      expect(of(log, 'fills').length).toBeGreaterThan(0);
      // Everything is plain JSON.
      expect(JSON.parse(JSON.stringify(log.map((m) => m.data)))).toEqual(log.map((m) => m.data));
    });

    it('publishes 1-second bars that match the ticks published before them', () => {
      const { log } = runFake(600, { symbols: ['NVDA'] });
      const agg = new BarAggregator('NVDA');
      let expected: Bar | null = null;
      let barsSeen = 0;
      for (const m of log) {
        if (m.topic === 'ticks.NVDA') expected = agg.update(m.data as Tick, m.at).bar;
        if (m.topic === 'bars.1s.NVDA') {
          expect(m.data).toEqual(expected);
          expect((m.data as Bar).time).toBe(Math.floor(m.at / 1000));
          barsSeen++;
        }
      }
      expect(barsSeen).toBe(600);
      // 5 ticks per second: each bar's volume is the sum of its 5 trades' sizes.
      const bars = of<Bar>(log, 'bars.1s.NVDA');
      expect(new Set(bars.map((b) => b.time)).size).toBe(120);
    });

    it('trades: fill ids count up from 1, buys at the ask and sells at the bid of the tick just published', () => {
      const { log, stats } = runFake(3000);
      const fills = of<Fill>(log, 'fills');
      expect(fills.length).toBeGreaterThan(20);
      expect(stats.fills).toBe(fills.length);
      expect(fills.map((f) => f.id)).toEqual(fills.map((_, i) => i + 1));
      const lastTick = new Map<string, Tick>();
      for (const m of log) {
        if (m.topic.startsWith('ticks.')) lastTick.set((m.data as Tick).symbol, m.data as Tick);
        if (m.topic === 'fills') {
          const f = m.data as Fill;
          const t = lastTick.get(f.symbol)!;
          expect(f.price).toBe(f.side === 'buy' ? t.ask : t.bid);
          expect(f.time).toBe(m.at);
          expect(f.qty).toBeGreaterThan(0);
        }
      }
      expect(new Set(fills.map((f) => f.symbol)).size).toBeGreaterThanOrEqual(4);
    });

    it('goes long, short and flips over a session', () => {
      const { log } = runFake(3000);
      const qty = new Map<string, number>();
      let shorts = 0;
      let flips = 0;
      for (const f of of<Fill>(log, 'fills')) {
        const before = qty.get(f.symbol) ?? 0;
        const after = Math.round((before + (f.side === 'buy' ? f.qty : -f.qty)) * 1e8) / 1e8;
        if (after < 0) shorts++;
        if (before * after < 0) flips++;
        qty.set(f.symbol, after);
      }
      expect(shorts).toBeGreaterThan(0);
      expect(flips).toBeGreaterThan(0);
    });

    it('publishes pnl right after every fill', () => {
      const { log } = runFake(3000);
      log.forEach((m, i) => {
        if (m.topic !== 'fills') return;
        expect(log[i + 1].topic).toBe('pnl');
        expect((log[i + 1].data as PnlSnapshot).time).toBe(m.at);
      });
    });

    it('publishes pnl at least once per second even without fills', () => {
      const { log } = runFake(3000, { strategy: { entryZ: 1000 } }); // never trades
      const times = of<PnlSnapshot>(log, 'pnl').map((p) => p.time);
      expect(of(log, 'fills')).toEqual([]);
      expect(times[0]).toBe(T0);
      for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(1000);
      expect(times.length).toBe(600); // 3000 ticks at 5/s = 600 s
    });

    it('publishes pnl that agrees with replaying the published fills and ticks', () => {
      const { log } = runFake(3000);
      const replay = new Portfolio();
      const cash = new Map<string, number>();
      const qty = new Map<string, number>();
      const last = new Map<string, number>();
      let checked = 0;
      for (const m of log) {
        if (m.topic.startsWith('ticks.')) {
          const t = m.data as Tick;
          replay.mark(t.symbol, t.last);
          last.set(t.symbol, t.last);
        } else if (m.topic === 'fills') {
          const f = m.data as Fill;
          replay.applyFill(f);
          const signed = f.side === 'buy' ? f.qty : -f.qty;
          cash.set(f.symbol, (cash.get(f.symbol) ?? 0) - signed * f.price);
          qty.set(f.symbol, Math.round(((qty.get(f.symbol) ?? 0) + signed) * 1e8) / 1e8);
        } else if (m.topic === 'pnl') {
          const snap = m.data as PnlSnapshot;
          // Same accounting replayed from the wire data alone.
          expect(snap).toEqual(replay.snapshot(m.at));
          // Independent check: per symbol, realized + unrealized = cash flow + qty * last.
          for (const p of snap.positions) {
            expect(p.qty).toBe(qty.get(p.symbol));
            expect(p.last).toBe(last.get(p.symbol));
            const expected = cash.get(p.symbol)! + qty.get(p.symbol)! * last.get(p.symbol)!;
            expect(Math.abs(p.realized + p.unrealized - expected)).toBeLessThanOrEqual(0.011);
          }
          expect(snap.realized).toBe(cents(snap.positions.reduce((a, p) => a + p.realized, 0)));
          expect(snap.unrealized).toBe(cents(snap.positions.reduce((a, p) => a + p.unrealized, 0)));
          expect(snap.total).toBe(cents(snap.realized + snap.unrealized));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(600);
      const final = of<PnlSnapshot>(log, 'pnl').at(-1)!;
      expect(final.positions.length).toBeGreaterThan(0);
      expect(final.realized).not.toBe(0);
    });

    it('is deterministic: same seed, same feeds; another seed, other feeds', () => {
      const a = runFake(1000).log;
      const b = runFake(1000).log;
      expect(b).toEqual(a);
      const c = runFake(1000, { seed: 8 }).log;
      expect(of<Tick>(c, 'ticks.AAPL')).not.toEqual(of<Tick>(a, 'ticks.AAPL'));
    });

    it('keeps the price path independent of clock jitter', () => {
      const steady = runFake(200, { symbols: ['AAPL'] }).log;
      const jittery: Published[] = [];
      const sim = createSimulator({ seed: 7, symbols: ['AAPL'], publish: (topic, data) => void jittery.push({ topic, data, at: 0 }) });
      for (let i = 0; i < 200; i++) sim.tick(T0 + i * 200 + (i % 3) * 37);
      expect(of<Tick>(jittery, 'ticks.AAPL')).toEqual(of<Tick>(steady, 'ticks.AAPL'));
    });

    it('keeps its state when publishing fails, and reports the failures', async () => {
      const errors: string[] = [];
      const ok = runFake(1500);
      const failing = runFake(1500, {
        publish: (topic) => {
          if (topic === 'pnl') throw new Error('sync failure');
          return Promise.reject(new Error('hub down'));
        },
        onPublishError: (err, topic) => void errors.push(`${topic}: ${(err as Error).message}`),
      });
      await new Promise((r) => setTimeout(r, 0)); // let the rejections be reported
      expect(failing.stats).toEqual(ok.stats);
      expect(errors.length).toBe(ok.log.length);
      expect(errors).toContain('pnl: sync failure');
      expect(errors).toContain('ticks.AAPL: hub down');
    });

    it('rejects bad options', () => {
      const publish = () => {};
      expect(() => createSimulator({ publish, ticksPerSecond: 0 })).toThrow(/ticksPerSecond/);
      expect(() => createSimulator({ publish, ticksPerSecond: Number.NaN })).toThrow(/ticksPerSecond/);
      expect(() => createSimulator({ publish, seed: Number.POSITIVE_INFINITY })).toThrow(/seed/);
      expect(() => createSimulator({ publish, symbols: ['NOPE'] })).toThrow(/unknown symbol "NOPE"/);
      expect(() => createSimulator({ publish: undefined as unknown as () => void })).toThrow(/publish/);
      expect(() => createSimulator({ publish }).tick(Number.NaN)).toThrow(/nowMs/);
    });
  });

  describe('#start', () => {
    it('ticks on a timer at ticksPerSecond per symbol and stops cleanly', () => {
      vi.useFakeTimers({ now: T0 });
      const log: Published[] = [];
      const sim = createSimulator({ seed: 1, symbols: ['AAPL', 'MSFT'], ticksPerSecond: 10, publish: (topic, data) => void log.push({ topic, data, at: Date.now() }) });
      sim.start();
      sim.start(); // idempotent: no second timer
      expect(sim.running).toBe(true);
      vi.advanceTimersByTime(1000);
      expect(of(log, 'ticks.AAPL')).toHaveLength(10);
      expect(of(log, 'ticks.MSFT')).toHaveLength(10);
      expect(log.filter((m) => m.topic === 'ticks.AAPL').map((m) => m.at)).toEqual(Array.from({ length: 10 }, (_, i) => T0 + (i + 1) * 100));
      sim.stop();
      expect(sim.running).toBe(false);
      const n = log.length;
      vi.advanceTimersByTime(5000);
      expect(log.length).toBe(n);
      sim.start(); // resumes with its state
      vi.advanceTimersByTime(100);
      expect(of(log, 'ticks.AAPL')).toHaveLength(11);
      sim.stop();
    });

    it('keeps publishing pnl every second at tick rates below 1/s', () => {
      vi.useFakeTimers({ now: T0 });
      const pnlTimes: number[] = [];
      const sim = createSimulator({ seed: 1, symbols: ['AAPL'], ticksPerSecond: 0.2, publish: (topic, data) => void (topic === 'pnl' && pnlTimes.push((data as PnlSnapshot).time)) });
      sim.start();
      vi.advanceTimersByTime(10_000);
      sim.stop();
      expect(pnlTimes.length).toBeGreaterThanOrEqual(9);
      for (let i = 1; i < pnlTimes.length; i++) expect(pnlTimes[i] - pnlTimes[i - 1]).toBeLessThanOrEqual(1100);
    });
  });
});

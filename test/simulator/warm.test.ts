import { describe, expect, it } from 'vitest';
import { TIMEFRAMES, TIMEFRAME_SECONDS, type Bar, type Fill, type PnlSnapshot, type Trade } from '../../protocol/feeds.ts';
import { OrderBook } from '../../protocol/book.ts';
import { createSimulator, type FeedPayload, type Simulator } from '../../simulator/simulator.ts';
import { warmBudget, type WarmOptions } from '../../simulator/warm.ts';
import { aggregate } from './bar-check.ts';

const END = Date.UTC(2024, 5, 3, 14, 37, 12, 345);
const END_SEC = Math.floor(END / 1000);

function warm(seed: number, options: WarmOptions = {}, symbols = ['AAPL', 'BTC-USD']): { log: { topic: string; data: FeedPayload }[]; sim: Simulator } {
  const log: { topic: string; data: FeedPayload }[] = [];
  const sim = createSimulator({ seed, symbols, publish: (topic, data) => void log.push({ topic, data }) });
  sim.warmUp(END, options);
  return { log, sim };
}

const of = <T>(log: { topic: string; data: FeedPayload }[], topic: string) => log.filter((m) => m.topic === topic).map((m) => m.data as T);

describe('warm start', () => {
  const { log, sim } = warm(4);

  it('publishes the last hour of 1s bars and pnl and the last day of longer bars, in order, consistent', () => {
    for (const symbol of ['AAPL', 'BTC-USD']) {
      const seconds = of<Bar>(log, `bars.1s.${symbol}`);
      expect(seconds.at(-1)!.time).toBe(END_SEC);
      expect(seconds[0].time).toBeLessThanOrEqual(END_SEC - 3600);
      expect(seconds).toHaveLength(3601); // 5 trades every second: no empty one
      for (const tf of TIMEFRAMES) {
        const bars = of<Bar>(log, `bars.${tf}.${symbol}`);
        const period = TIMEFRAME_SECONDS[tf];
        // One message per bar, every period, oldest first, up to the one in progress.
        expect(bars.map((b) => b.time)).toEqual(bars.map((_, i) => bars[0].time + i * period));
        expect(bars.at(-1)!.time).toBe(END_SEC - (END_SEC % period));
        if (tf !== '1s') expect(END_SEC - bars[0].time, tf).toBeGreaterThanOrEqual(86_400 - period);
      }
      // The timeframes agree (over the hours where the shorter ones were published too).
      for (let k = 1; k < TIMEFRAMES.length; k++) {
        const shorter = of<Bar>(log, `bars.${TIMEFRAMES[k - 1]}.${symbol}`);
        const longer = of<Bar>(log, `bars.${TIMEFRAMES[k]}.${symbol}`);
        const period = TIMEFRAME_SECONDS[TIMEFRAMES[k]];
        const whole = aggregate(shorter, period).filter((b) => b.time >= shorter[0].time);
        expect(longer.slice(-whole.length), TIMEFRAMES[k]).toEqual(whole);
      }
      expect(of<Trade>(log, `trades.${symbol}`)).toHaveLength(300);
    }
    const pnl = of<PnlSnapshot>(log, 'pnl');
    expect(pnl.at(-1)!.time).toBeGreaterThan(END - 1000);
    expect(pnl[0].time).toBeLessThanOrEqual(END - 3600_000 + 1000);
    for (let i = 1; i < pnl.length; i++) expect(pnl[i].time - pnl[i - 1].time).toBeLessThanOrEqual(1000);
    expect(of<Fill>(log, 'fills').length).toBeGreaterThan(10);
    // Then the book: a snapshot on both topics, its top the last tick's quote.
    const book = new OrderBook('AAPL');
    expect(book.apply(of(log, 'book.AAPL')[0]).kind).toBe('applied');
    expect(of(log, 'book.snapshot.AAPL')).toEqual(of(log, 'book.AAPL'));
    const tick = of<{ bid: number; ask: number }>(log, 'ticks.AAPL')[0];
    expect([book.bids[0][0], book.asks[0][0]]).toEqual([tick.bid, tick.ask]);
  });

  it('is deterministic by seed', () => {
    expect(warm(4).log).toEqual(log);
    expect(of(warm(5).log, 'bars.1m.AAPL')).not.toEqual(of(log, 'bars.1m.AAPL'));
  });

  it('carries on live from where the history ends', () => {
    const live: { topic: string; data: FeedPayload }[] = [];
    const n = log.length;
    expect(sim.catchUp(END + 3000)).toBe(15); // 3 s at 5 ticks/s
    live.push(...log.slice(n));
    const lastWarm = (tf: string) => of<Bar>(log.slice(0, n), `bars.${tf}.AAPL`).at(-1)!;
    for (const tf of TIMEFRAMES) {
      const next = of<Bar>(live, `bars.${tf}.AAPL`)[0];
      if (!next) {
        expect(['5m', '15m', '1h']).toContain(tf); // republished every 5 s or more: none yet
        continue;
      }
      if (next.time === lastWarm(tf).time) {
        expect(next.open, tf).toBe(lastWarm(tf).open); // the same bar, grown
        expect(next.volume).toBeGreaterThan(lastWarm(tf).volume);
      } else {
        expect(next.time).toBeGreaterThan(lastWarm(tf).time);
      }
    }
    expect(of<Trade>(live, 'trades.AAPL')[0].id).toBe(of<Trade>(log.slice(0, n), 'trades.AAPL').at(-1)!.id + 1);
    const book = new OrderBook('AAPL');
    for (const m of log) if (m.topic === 'book.AAPL') book.apply(m.data);
    expect(book.checksum()).toBe(sim.book('AAPL')!.checksum);
    expect(() => sim.warmUp(END)).toThrow(/once/);
  });

  it('publishes no more than the HISTORY rules keep, by count and by market age', () => {
    const retention = [
      { pattern: 'bars.1s.>', maxMessages: 100, maxAgeSeconds: 3600 },
      { pattern: 'bars.>', maxMessages: 1000, maxAgeSeconds: 7200 },
      { pattern: 'pnl', maxMessages: 50, maxAgeSeconds: 30 },
      { pattern: 'trades.>', maxMessages: 10, maxAgeSeconds: 3600 },
      { pattern: 'fills', maxMessages: 0, maxAgeSeconds: 3600 },
    ];
    const cut = warm(4, { retention }, ['AAPL']).log;
    expect(of(cut, 'bars.1s.AAPL')).toHaveLength(100);
    expect(of<Bar>(cut, 'bars.1m.AAPL').every((b) => b.time >= END_SEC - 7200)).toBe(true);
    expect(of(cut, 'bars.1m.AAPL').length).toBeGreaterThan(100);
    expect(of(cut, 'bars.1h.AAPL').length).toBeLessThanOrEqual(3);
    expect(of<PnlSnapshot>(cut, 'pnl').every((p) => p.time >= (END_SEC - 30) * 1000)).toBe(true);
    expect(of(cut, 'trades.AAPL')).toHaveLength(10);
    expect(of(cut, 'fills')).toEqual([]);
    // Topics no rule matches keep nothing on the hub: none of their history is sent.
    expect(warmBudget({ retention }, 'ticks.AAPL', END_SEC, 60)).toEqual({ count: 0, sinceSec: END_SEC });
    // The same model: the cut history is a suffix of the full one.
    expect(of(cut, 'bars.1s.AAPL')).toEqual(of(warm(4, {}, ['AAPL']).log, 'bars.1s.AAPL').slice(-100));
  });
});

import { describe, expect, it } from 'vitest';
import { TIMEFRAMES, TIMEFRAME_SECONDS, type Bar, type Tick, type Trade } from '../../protocol/feeds.ts';
import { createSimulator, type FeedPayload } from '../../simulator/simulator.ts';
import { republishSeconds } from '../../simulator/timeframes.ts';
import { aggregate, finals } from './bar-check.ts';

const T0 = Date.UTC(2024, 5, 3, 13, 0, 0);

/** Rate 1 tick/s (cheap) for `seconds`, on a fake clock; every message in order. */
function runFor(seconds: number, symbols = ['BTC-USD', 'EURUSD'], rate = 1): { topic: string; data: FeedPayload }[] {
  const log: { topic: string; data: FeedPayload }[] = [];
  const sim = createSimulator({ seed: 9, symbols, ticksPerSecond: rate, publish: (topic, data) => void log.push({ topic, data }) });
  for (let i = 0; i < seconds * rate; i++) sim.tick(T0 + (i * 1000) / rate + 137);
  return log;
}

describe('bars in every timeframe', () => {
  const log = runFor(2 * 3600 + 600); // 13:00 to 15:10: two whole hours

  it('agree exactly: each bar is the aggregate of the shorter bars inside it', () => {
    for (const symbol of ['BTC-USD', 'EURUSD']) {
      for (let k = 1; k < TIMEFRAMES.length; k++) {
        const shorter = finals(log, `bars.${TIMEFRAMES[k - 1]}.${symbol}`);
        const longer = finals(log, `bars.${TIMEFRAMES[k]}.${symbol}`);
        const closed = longer.slice(0, -1); // the last one is still in progress
        expect(closed.length, `${symbol} ${TIMEFRAMES[k]}`).toBeGreaterThanOrEqual(TIMEFRAMES[k] === '1h' ? 2 : 8);
        expect(closed, `${symbol} ${TIMEFRAMES[k]}`).toEqual(aggregate(shorter, TIMEFRAME_SECONDS[TIMEFRAMES[k]]).slice(0, closed.length));
      }
      // A 1m bar is the aggregate of its 60 1s bars (one trade a second here, so all 60 exist).
      const seconds = finals(log, `bars.1s.${symbol}`);
      const minute = finals(log, `bars.1m.${symbol}`)[3];
      const inside = seconds.filter((b) => b.time >= minute.time && b.time < minute.time + 60);
      expect(inside).toHaveLength(60);
      expect(aggregate(inside, 60)).toEqual([minute]);
    }
  });

  it('republish a longer bar in progress at most once per 1/60 of its length, times always in order', () => {
    for (const tf of TIMEFRAMES) {
      const versions = log.filter((m) => m.topic === `bars.${tf}.EURUSD`).map((m) => (m.data as Bar).time);
      for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThanOrEqual(versions[i - 1]);
      const perBar = new Map<number, number>();
      for (const t of versions) perBar.set(t, (perBar.get(t) ?? 0) + 1);
      const most = Math.max(...perBar.values());
      if (tf === '1s') expect(most).toBe(1); // one trade a second: one version each
      else expect(most).toBeLessThanOrEqual(TIMEFRAME_SECONDS[tf] / Math.max(1, republishSeconds(tf)) + 2);
    }
  });
});

describe('trades', () => {
  const log = runFor(120, ['BTC-USD', 'AAPL'], 5);

  it('are every trade of the ticks, numbered, and sum to the bar volumes', () => {
    for (const symbol of ['BTC-USD', 'AAPL']) {
      const ticks = log.filter((m) => m.topic === `ticks.${symbol}`).map((m) => m.data as Tick);
      const trades = log.filter((m) => m.topic === `trades.${symbol}`).map((m) => m.data as Trade);
      expect(trades).toHaveLength(ticks.length);
      expect(trades.map((t) => t.id)).toEqual(trades.map((_, i) => i + 1));
      trades.forEach((trade, i) => {
        expect(trade.price).toBe(ticks[i].last);
        expect(trade.size).toBe(ticks[i].size);
        expect(trade.side).toBe(ticks[i].last === ticks[i].ask ? 'buy' : 'sell');
      });
      expect(new Set(trades.map((t) => t.side))).toEqual(new Set(['buy', 'sell']));
      // Every version of every bar, every timeframe, has the volume of the trades in its span so far.
      const sums = new Map<string, number>();
      let checked = 0;
      for (const m of log) {
        if (m.topic === `trades.${symbol}`) {
          const t = m.data as Trade;
          for (const tf of TIMEFRAMES) {
            const key = `${tf}@${Math.floor(t.time / 1000 / TIMEFRAME_SECONDS[tf]) * TIMEFRAME_SECONDS[tf]}`;
            sums.set(key, Math.round(((sums.get(key) ?? 0) + t.size) * 1e8) / 1e8);
          }
        } else if (m.topic.startsWith('bars.') && m.topic.endsWith(`.${symbol}`)) {
          const bar = m.data as Bar;
          const tf = m.topic.split('.')[1];
          expect(bar.volume, `${m.topic} ${bar.time}`).toBe(sums.get(`${tf}@${bar.time}`));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(ticks.length);
    }
  });
});

import { describe, expect, it } from 'vitest';
import type { Bar, Fill, PnlSnapshot, Tick, Trade } from '../../protocol/feeds.ts';
import { DEFAULT_BACKLOG_LIMIT, OutageBacklog, backlogKind, type BacklogEntry } from '../../simulator/backlog.ts';

const bar = (symbol: string, time: number, close: number): Bar => ({ symbol, time, open: 100, high: close, low: 100, close, volume: 1 });
const fill = (id: number): Fill => ({ id, symbol: 'AAPL', side: 'buy', qty: 1, price: 100, time: id });
const pnl = (time: number): PnlSnapshot => ({ time, realized: 0, unrealized: 0, total: 0, positions: [] });
const tick: Tick = { symbol: 'AAPL', bid: 1, ask: 2, last: 1.5, size: 1 };

/** The backlog's counters always add up. */
function expectBalanced(b: OutageBacklog): void {
  const c = b.stats();
  expect(c.added).toBe(b.size + c.taken + c.evicted + c.superseded);
}

const summary = (entries: BacklogEntry[]) =>
  entries.map((e) => (e.topic === 'fills' ? `fill ${(e.data as Fill).id}` : e.topic === 'pnl' ? `pnl ${(e.data as PnlSnapshot).time}` : `${e.topic} ${(e.data as Bar).time} ${(e.data as Bar).close}`));

describe('OutageBacklog', () => {
  it('keeps bars of every timeframe, fills and pnl, not ticks or other topics', () => {
    expect(backlogKind('bars.1s.AAPL')).toBe('bar');
    expect(backlogKind('bars.1h.AAPL')).toBe('bar');
    expect(backlogKind('fills')).toBe('fill');
    expect(backlogKind('pnl')).toBe('pnl');
    expect(backlogKind('ticks.AAPL')).toBeNull();
    expect(backlogKind('trades.AAPL')).toBe('trade');
    expect(backlogKind('book.AAPL')).toBeNull();
    expect(backlogKind('book.snapshot.AAPL')).toBeNull();
    expect(backlogKind('chat')).toBeNull();
    const b = new OutageBacklog();
    expect(b.add('ticks.AAPL', tick, 1)).toBe(false);
    expect(b.size).toBe(0);
    expect(b.stats().added).toBe(0);
  });

  it('keeps the latest version of each bar, per topic and second, oldest second first', () => {
    const b = new OutageBacklog();
    let order = 0;
    // Two symbols, 3 seconds, 4 versions of each bar (the bar in progress republished per tick).
    for (let t = 10; t < 13; t++) {
      for (let v = 1; v <= 4; v++) {
        b.add('bars.1s.AAPL', bar('AAPL', t, t * 10 + v), ++order);
        b.add('bars.1s.MSFT', bar('MSFT', t, t * 10 + v), ++order);
      }
    }
    expect(b.sizes()).toEqual({ bars: 6, trades: 0, fills: 0, pnl: 0 });
    expect(b.stats()).toMatchObject({ added: 24, superseded: 18, evicted: 0 });
    expect(summary(b.take(100))).toEqual([
      'bars.1s.AAPL 10 104',
      'bars.1s.MSFT 10 104',
      'bars.1s.AAPL 11 114',
      'bars.1s.MSFT 11 114',
      'bars.1s.AAPL 12 124',
      'bars.1s.MSFT 12 124',
    ]);
    expect(b.size).toBe(0);
    expectBalanced(b);
  });

  it('keeps every trade once, oldest first per symbol, after the bars and before the fills', () => {
    const b = new OutageBacklog({ trades: 4 });
    const trade = (symbol: string, id: number): Trade => ({ symbol, id, price: 100 + id, size: 1, side: 'buy', time: 1000 + id * 200 });
    b.add('trades.AAPL', trade('AAPL', 2), 3);
    b.add('trades.AAPL', trade('AAPL', 1), 4); // a send that failed late: sorted in
    b.add('trades.MSFT', trade('MSFT', 1), 5);
    b.add('trades.AAPL', trade('AAPL', 2), 6); // a retry: kept once
    b.add('bars.1s.AAPL', bar('AAPL', 1, 1), 7);
    expect(b.sizes()).toMatchObject({ bars: 1, trades: 3 });
    expect(b.take(10).map((e) => (e.topic.startsWith('trades.') ? `${e.topic}#${(e.data as Trade).id}` : e.topic))).toEqual([
      'bars.1s.AAPL',
      'trades.AAPL#1',
      'trades.MSFT#1',
      'trades.AAPL#2',
    ]);
    for (let id = 10; id < 20; id++) b.add('trades.AAPL', trade('AAPL', id), 100 + id);
    expect(b.sizes().trades).toBe(4); // bounded: the oldest went
    expect(b.take(10).map((e) => (e.data as Trade).id)).toEqual([16, 17, 18, 19]);
    expectBalanced(b);
  });

  it('does not let an older version of a bar replace a newer one (a send that failed late)', () => {
    const b = new OutageBacklog();
    b.add('bars.1s.AAPL', bar('AAPL', 10, 105), 5); // backlogged during the outage
    b.add('bars.1s.AAPL', bar('AAPL', 10, 103), 3); // was in flight when the connection dropped
    b.add('bars.1s.AAPL', bar('AAPL', 9, 99), 1); // older second, failed late: goes first
    expect(summary(b.take(10))).toEqual(['bars.1s.AAPL 9 99', 'bars.1s.AAPL 10 105']);
    expect(b.stats().superseded).toBe(1);
    expectBalanced(b);
  });

  it('keeps every fill once, in id order, whatever order retries arrive in', () => {
    const b = new OutageBacklog();
    for (const id of [4, 5, 6]) b.add('fills', fill(id), id);
    // Fills 2 and 3 were in flight; 5 is retried twice.
    b.add('fills', fill(2), 2);
    b.add('fills', fill(5), 5);
    b.add('fills', fill(3), 3);
    b.add('fills', fill(5), 5);
    expect(b.sizes().fills).toBe(5);
    expect(summary(b.take(3))).toEqual(['fill 2', 'fill 3', 'fill 4']);
    b.add('fills', fill(7), 7);
    expect(summary(b.take(10))).toEqual(['fill 5', 'fill 6', 'fill 7']);
    expect(b.stats().superseded).toBe(2);
    expectBalanced(b);
  });

  it('keeps only the latest pnl', () => {
    const b = new OutageBacklog();
    b.add('pnl', pnl(1000), 1);
    b.add('pnl', pnl(2000), 2);
    b.add('pnl', pnl(1500), 1.5); // older, arrived late
    expect(b.sizes().pnl).toBe(1);
    expect(summary(b.take(5))).toEqual(['pnl 2000']);
    expect(b.stats().superseded).toBe(2);
    expectBalanced(b);
  });

  it('hands out bars first, then fills, then pnl, at most n at a time', () => {
    const b = new OutageBacklog();
    b.add('pnl', pnl(1), 1);
    b.add('fills', fill(1), 2);
    b.add('bars.1s.AAPL', bar('AAPL', 5, 1), 3);
    b.add('fills', fill(2), 4);
    b.add('bars.1s.AAPL', bar('AAPL', 6, 1), 5);
    expect(b.take(0)).toEqual([]);
    expect(summary(b.take(1))).toEqual(['bars.1s.AAPL 5 1']);
    expect(summary(b.take(2))).toEqual(['bars.1s.AAPL 6 1', 'fill 1']);
    expect(summary(b.take(2))).toEqual(['fill 2', 'pnl 1']);
    expect(b.take(2)).toEqual([]);
    expect(b.stats().taken).toBe(5);
    expectBalanced(b);
  });

  it('is bounded: past the limit the oldest bars and lowest fill ids are dropped', () => {
    const b = new OutageBacklog({ bars: 4, fills: 3 });
    let order = 0;
    for (let t = 1; t <= 5; t++) {
      b.add('bars.1s.AAPL', bar('AAPL', t, 1), ++order);
      b.add('bars.1s.AAPL', bar('AAPL', t, 2), ++order); // a new version takes no room
    }
    for (let id = 1; id <= 5; id++) b.add('fills', fill(id), ++order);
    for (let i = 0; i < 10; i++) b.add('pnl', pnl(i), ++order); // pnl: one slot, outside the limit
    expect(b.sizes()).toEqual({ bars: 4, trades: 0, fills: 3, pnl: 1 });
    expect(b.stats().evicted).toBe(1 + 2);
    // A late bar older than everything kept is dropped at once when full.
    b.add('bars.1s.AAPL', bar('AAPL', 0, 1), 0);
    expect(b.stats().evicted).toBe(4);
    expect(summary(b.take(100))).toEqual([
      'bars.1s.AAPL 2 2',
      'bars.1s.AAPL 3 2',
      'bars.1s.AAPL 4 2',
      'bars.1s.AAPL 5 2',
      'fill 3',
      'fill 4',
      'fill 5',
      'pnl 9',
    ]);
    expectBalanced(b);
  });

  it('bounds bars over all symbols together', () => {
    const b = new OutageBacklog({ bars: 3 });
    let order = 0;
    for (let t = 1; t <= 2; t++) for (const s of ['AAPL', 'MSFT']) b.add(`bars.1s.${s}`, bar(s, t, 1), ++order);
    expect(summary(b.take(10))).toEqual(['bars.1s.MSFT 1 1', 'bars.1s.AAPL 2 1', 'bars.1s.MSFT 2 1']);
    expect(b.stats().evicted).toBe(1);
  });

  it('stays bounded through a long outage', () => {
    const b = new OutageBacklog();
    let order = 0;
    // An hour and a half of 6 symbols at 5 ticks/s, with a fill every other second.
    for (let t = 0; t < 5400; t++) {
      for (let v = 0; v < 5; v++) for (const s of ['A', 'B', 'C', 'D', 'E', 'F']) b.add(`bars.1s.${s}`, bar(s, t, v), ++order);
      if (t % 2 === 0) b.add('fills', fill(t / 2 + 1), ++order);
      b.add('pnl', pnl(t), ++order);
    }
    expect(b.sizes()).toEqual({ bars: DEFAULT_BACKLOG_LIMIT.bars, trades: 0, fills: 2700, pnl: 1 });
    const bars = b.take(DEFAULT_BACKLOG_LIMIT.bars).map((e) => (e.data as Bar).time);
    expect(bars[0]).toBe(5400 - DEFAULT_BACKLOG_LIMIT.bars / 6); // the last 10 minutes
    expect(bars.at(-1)).toBe(5399);
    expectBalanced(b);
  });

  it('rejects a bad limit', () => {
    expect(() => new OutageBacklog({ bars: -1 })).toThrow(/backlogLimit\.bars/);
    expect(() => new OutageBacklog({ fills: 1.5 })).toThrow(/backlogLimit\.fills/);
    expect(() => new OutageBacklog({ bars: Number.NaN })).toThrow(RangeError);
    expect(new OutageBacklog({ bars: 0 }).limit).toEqual({ bars: 0, trades: 20_000, fills: 10_000 });
    expect(() => new OutageBacklog({ trades: -1 })).toThrow(/backlogLimit.trades/);
  });
});

import { describe, expect, it } from 'vitest';
import { MAX_BARS, MAX_FILLS, MAX_PNL_POINTS, MarketStore, fillKey, symbolOf } from '../../dashboard/src/store.ts';
import type { Bar, Fill, PnlSnapshot, Tick } from '../../protocol/feeds.ts';

const T0 = 1_764_100_000; // Unix seconds

const bar = (time: number, close = 100, symbol = 'AAPL', open = close): Bar => ({
  symbol,
  time,
  open,
  high: Math.max(open, close),
  low: Math.min(open, close),
  close,
  volume: 10,
});

const fill = (id: number, time: number, symbol = 'AAPL'): Fill => ({ id, symbol, side: id % 2 ? 'buy' : 'sell', qty: 1, price: 100, time });

const tick = (last: number, symbol = 'AAPL'): Tick => ({ symbol, bid: last - 0.01, ask: last + 0.01, last, size: 1 });

const snap = (timeMs: number, total: number): PnlSnapshot => ({ time: timeMs, realized: total, unrealized: 0, total, positions: [] });

const times = (bars: readonly { time: number }[]) => bars.map((b) => b.time);

describe('MarketStore', () => {
  it('#applyBar appends a newer second, replaces the last one, and inserts an older one as history', () => {
    const store = new MarketStore();
    expect(store.applyBar(bar(T0 + 1, 100), 1000, 1)).toBe('append');
    expect(store.applyBar(bar(T0 + 3, 101), 1001, 2)).toBe('append');
    expect(store.applyBar(bar(T0 + 3, 102), 1002, 3)).toBe('last');
    expect(store.applyBar(bar(T0 + 2, 103), 1003, 4)).toBe('history'); // late second, inserted in place
    expect(store.applyBar(bar(T0 + 1, 104), 1004, 5)).toBe('history'); // late update of a held second
    const st = store.series('AAPL');
    expect(times(st.bars)).toEqual([T0 + 1, T0 + 2, T0 + 3]);
    expect(st.bars.map((b) => b.close)).toEqual([104, 103, 102]);
    expect(store.get('AAPL').lastTs).toBe(1004);
  });

  it('#applyBar keeps the newer version of a second: a lower seq is none, the same seq replaces', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0, 100), 1, 10);
    store.applyBar(bar(T0 + 1, 101), 2, 11);
    expect(store.applyBar(bar(T0 + 1, 99), 3, 9)).toBe('none'); // a stale update of the last second
    expect(store.applyBar(bar(T0, 98), 4, 5)).toBe('none'); // a stale update of an older second
    expect(store.series('AAPL').bars.map((b) => b.close)).toEqual([100, 101]);
    expect(store.applyBar(bar(T0 + 1, 102), 5, 11)).toBe('last'); // the same version again (a replay) is taken
    expect(store.series('AAPL').bars.map((b) => b.close)).toEqual([100, 102]);
  });

  it('#applyBar tracks the lowest seq received and the newest hub time', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0 + 5), 5000, 50);
    store.applyBar(bar(T0 + 2), 4000, 20);
    store.applyBar(bar(T0 + 6), 3000, 60);
    const st = store.series('AAPL');
    expect(st.barsFirstSeq).toBe(20);
    expect(store.get('AAPL').lastTs).toBe(5000);
  });

  it('#applyBar after #barsReset: the new stream beats what was held, whatever its seq', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0, 100), 1, 900);
    store.applyBar(bar(T0 + 1, 101), 2, 901);
    store.barsReset('AAPL');
    // The new epoch numbers from 1 again: seq 3 of generation 1 is newer than seq 901 of generation 0.
    expect(store.applyBar(bar(T0 + 1, 111), 3, 3)).toBe('last');
    expect(store.applyBar(bar(T0, 110), 4, 2)).toBe('history');
    expect(store.series('AAPL').bars.map((b) => b.close)).toEqual([110, 111]);
    // Within the new generation the seq orders versions again.
    expect(store.applyBar(bar(T0 + 1, 99), 5, 1)).toBe('none');
    expect(store.series('AAPL').bars.map((b) => b.close)).toEqual([110, 111]);
    expect(store.series('AAPL').barsFirstSeq).toBe(1); // received, if stale: the stream reaches back to seq 1
  });

  it('#applyBar keeps at most MAX_BARS per symbol, dropping the oldest and its version', () => {
    const store = new MarketStore();
    for (let i = 0; i < MAX_BARS + 10; i++) store.applyBar(bar(T0 + i), i, i + 1);
    const st = store.series('AAPL');
    expect(st.bars.length).toBe(MAX_BARS);
    expect(st.bars[0].time).toBe(T0 + 10);
    expect(st.bars[MAX_BARS - 1].time).toBe(T0 + MAX_BARS + 9);
    expect(st.barRevs.size).toBe(MAX_BARS);
    expect(st.barRevs.has(T0 + 9)).toBe(false);
    // A late second older than everything held does not grow the series.
    store.applyBar(bar(T0 + 5), 0, 1_000_000);
    expect(st.bars.length).toBe(MAX_BARS);
    expect(st.bars[0].time).toBe(T0 + 10);
    expect(st.barRevs.has(T0 + 5)).toBe(false);
  });

  it('#mergeHistory inserts missing seconds in order, keeps newer held versions, and counts what changed', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0 + 10, 110), 1, 100);
    store.applyBar(bar(T0 + 12, 112), 2, 102);
    const changed = store.mergeHistory('AAPL', [
      { bar: bar(T0 + 8, 8), seq: 90 },
      { bar: bar(T0 + 9, 9), seq: 95 },
      { bar: bar(T0 + 10, 10), seq: 99 }, // older than the live version held: kept
      { bar: bar(T0 + 11, 11), seq: 101 }, // a hole between live bars: filled
      { bar: bar(T0 + 12, 12), seq: 102 }, // the same version: not a change
    ]);
    expect(changed).toBe(3);
    const st = store.series('AAPL');
    expect(times(st.bars)).toEqual([T0 + 8, T0 + 9, T0 + 10, T0 + 11, T0 + 12]);
    expect(st.bars.map((b) => b.close)).toEqual([8, 9, 110, 11, 112]);
    expect(store.mergeHistory('AAPL', [{ bar: bar(T0 + 10, 10), seq: 103 }])).toBe(1); // a newer version replaces
    expect(st.bars[2].close).toBe(10);
  });

  it('#mergeHistory replaces bars held from before a reset', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0, 100), 1, 5000);
    store.applyBar(bar(T0 + 1, 101), 2, 5001);
    store.barsReset('AAPL');
    expect(store.mergeHistory('AAPL', [{ bar: bar(T0, 200), seq: 1 }, { bar: bar(T0 + 1, 201), seq: 2 }])).toBe(2);
    expect(store.series('AAPL').bars.map((b) => b.close)).toEqual([200, 201]);
  });

  it('#mergeHistory does not grow a full series with seconds older than its oldest, and trims when it fills a hole', () => {
    const store = new MarketStore();
    for (let i = 0; i < MAX_BARS; i++) if (i !== 100) store.applyBar(bar(T0 + i), i, i + 1);
    store.applyBar(bar(T0 + MAX_BARS), 0, MAX_BARS + 1); // full, with a hole at T0 + 100
    const st = store.series('AAPL');
    expect(st.bars.length).toBe(MAX_BARS);
    expect(st.bars[0].time).toBe(T0);

    expect(store.mergeHistory('AAPL', [{ bar: bar(T0 - 5), seq: 1 }, { bar: bar(T0 - 1), seq: 2 }])).toBe(0);
    expect(st.bars.length).toBe(MAX_BARS);
    expect(st.bars[0].time).toBe(T0);
    expect(st.barRevs.has(T0 - 5)).toBe(false);

    expect(store.mergeHistory('AAPL', [{ bar: bar(T0 + 100), seq: 101 }])).toBe(1);
    expect(st.bars.length).toBe(MAX_BARS);
    expect(st.bars[0].time).toBe(T0 + 1); // the oldest made room
    expect(st.barRevs.has(T0)).toBe(false);
    expect(st.barRevs.size).toBe(MAX_BARS);
    const ts = times(st.bars);
    expect(ts.every((t, i) => i === 0 || t > ts[i - 1])).toBe(true);
  });

  it('#barsReset bumps the generation, forgets the first seq and records where the gap starts; unknown symbols are ignored', () => {
    const store = new MarketStore();
    store.barsReset('MSFT');
    expect(store.has('MSFT')).toBe(false);

    store.applyBar(bar(T0), 1, 7);
    store.applyBar(bar(T0 + 30), 2, 8);
    store.barsReset('AAPL');
    const st = store.series('AAPL');
    expect(st.barsGen).toBe(1);
    expect(st.barsFirstSeq).toBeNull();
    expect(st.genLowTime).toBeNull();
    expect(st.gapFrom).toBe(T0 + 30);
    expect(st.bars.length).toBe(2); // the bars are kept
  });

  it('#resetGap names the seconds between the bars held at a reset and the new stream, until they join', () => {
    const store = new MarketStore();
    expect(store.resetGap('AAPL')).toBeNull();
    store.applyBar(bar(T0 + 100), 1, 1);
    expect(store.resetGap('AAPL')).toBeNull(); // nothing was reset

    store.barsReset('AAPL');
    expect(store.resetGap('AAPL')).toBeNull(); // nothing of the new stream yet
    store.applyBar(bar(T0 + 110), 2, 1);
    expect(store.resetGap('AAPL')).toEqual([T0 + 101, T0 + 109]);
    store.mergeHistory('AAPL', [{ bar: bar(T0 + 105), seq: 0 }]);
    expect(store.resetGap('AAPL')).toEqual([T0 + 101, T0 + 104]);
    store.mergeHistory('AAPL', [{ bar: bar(T0 + 101), seq: 0 }]); // adjacent to the last held second: joined
    expect(store.resetGap('AAPL')).toBeNull();
    expect(store.series('AAPL').gapFrom).toBeNull();
  });

  it('#resetGap after two resets starts after the newest bar held at either', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0 + 50), 1, 1);
    store.barsReset('AAPL');
    store.applyBar(bar(T0 + 60), 2, 1);
    store.barsReset('AAPL');
    store.applyBar(bar(T0 + 80), 3, 1);
    expect(store.resetGap('AAPL')).toEqual([T0 + 61, T0 + 79]);
    store.applyBar(bar(T0 + 61), 4, 2); // a bar right after the newest held: joined
    expect(store.resetGap('AAPL')).toBeNull();
  });

  it('#addFill drops a replayed fill its symbol still holds after the global blotter has trimmed it', () => {
    const store = new MarketStore();
    const old = fill(1, 1000, 'MSFT');
    expect(store.addFill(old)).toBe(true);
    for (let i = 2; i <= MAX_FILLS + 1; i++) store.addFill(fill(i, i * 1000, 'AAPL'));
    expect(store.fills.some((f) => fillKey(f) === fillKey(old))).toBe(false);
    expect(store.get('MSFT').fills).toEqual([old]);
    expect(store.addFill({ ...old })).toBe(false);
    expect(store.get('MSFT').fills.length).toBe(1);
  });

  it('#addFill drops a fill already known by fillKey; the same id at another time or symbol is a new fill', () => {
    const store = new MarketStore();
    expect(store.addFill(fill(1, 5000))).toBe(true);
    expect(store.addFill(fill(1, 5000))).toBe(false); // a replay
    expect(store.addFill({ ...fill(1, 5000), qty: 99 })).toBe(false); // same identity, whatever the rest says
    expect(store.addFill(fill(1, 9000))).toBe(true); // a restarted producer numbering from 1 again
    expect(store.addFill(fill(1, 5000, 'MSFT'))).toBe(true);
    expect(store.fills.length).toBe(3);
    expect(store.get('AAPL').fills.length).toBe(2);
    expect(store.get('MSFT').fills.length).toBe(1);
  });

  it('#addFill keeps both blotters ascending by time, out-of-order arrivals included', () => {
    const store = new MarketStore();
    for (const [id, t, sym] of [[1, 300, 'AAPL'], [2, 100, 'MSFT'], [3, 200, 'AAPL'], [4, 300, 'MSFT'], [5, 50, 'AAPL']] as const) {
      store.addFill(fill(id, t, sym));
    }
    expect(store.fills.map((f) => f.id)).toEqual([5, 2, 3, 1, 4]);
    expect(store.get('AAPL').fills.map((f) => f.id)).toEqual([5, 3, 1]);
    expect(store.get('MSFT').fills.map((f) => f.id)).toEqual([2, 4]);
  });

  it('#addFill keeps at most MAX_FILLS, globally and per symbol, dropping the oldest', () => {
    const store = new MarketStore();
    for (let i = 1; i <= MAX_FILLS + 20; i++) store.addFill(fill(i, i * 1000));
    expect(store.fills.length).toBe(MAX_FILLS);
    expect(store.fills[0].id).toBe(21);
    expect(store.get('AAPL').fills.length).toBe(MAX_FILLS);
    expect(store.get('AAPL').fills[0].id).toBe(21);
    expect(store.addFill(fill(MAX_FILLS + 20, (MAX_FILLS + 20) * 1000))).toBe(false); // still held, still known
  });

  it('#applyPnl keeps the newest snapshot and one point per second', () => {
    const store = new MarketStore();
    expect(store.applyPnl(snap(T0 * 1000, 10))).toBe(false);
    expect(store.applyPnl(snap(T0 * 1000 + 500, 12))).toBe(false); // same second: the point is updated
    expect(store.pnlHistory).toEqual([{ time: T0, value: 12 }]);
    expect(store.applyPnl(snap((T0 + 1) * 1000, 15))).toBe(false);
    expect(store.pnl?.total).toBe(15);
    expect(store.pnlHistory).toEqual([{ time: T0, value: 12 }, { time: T0 + 1, value: 15 }]);

    expect(store.applyPnl(snap((T0 + 1) * 1000, 14))).toBe(false); // the same time counts as current
    expect(store.pnl?.total).toBe(14);
    expect(store.pnlHistory.at(-1)).toEqual({ time: T0 + 1, value: 14 });
    // An older snapshot of the newest second neither becomes current nor moves the point.
    store.applyPnl(snap((T0 + 1) * 1000 + 900, 16));
    expect(store.applyPnl(snap((T0 + 1) * 1000 + 100, 1))).toBe(false);
    expect(store.pnl?.total).toBe(16);
    expect(store.pnlHistory.at(-1)).toEqual({ time: T0 + 1, value: 16 });
  });

  it('#applyPnl fills a missing older second (redraw) and ignores one it already has', () => {
    const store = new MarketStore();
    store.applyPnl(snap(T0 * 1000, 1));
    store.applyPnl(snap((T0 + 3) * 1000, 4));
    expect(store.applyPnl(snap((T0 + 1) * 1000, 2))).toBe(true);
    expect(store.applyPnl(snap((T0 + 1) * 1000 + 300, 9))).toBe(false); // that second is there now
    expect(store.applyPnl(snap(T0 * 1000, 9))).toBe(false);
    expect(store.pnlHistory).toEqual([{ time: T0, value: 1 }, { time: T0 + 1, value: 2 }, { time: T0 + 3, value: 4 }]);
    expect(store.pnl?.total).toBe(4); // older snapshots only fill the curve
  });

  it('#applyPnl keeps at most MAX_PNL_POINTS, and a full curve takes nothing older than its oldest', () => {
    const store = new MarketStore();
    for (let i = 0; i < MAX_PNL_POINTS + 5; i++) store.applyPnl(snap((T0 + 2 * i) * 1000, i));
    const h = store.pnlHistory;
    expect(h.length).toBe(MAX_PNL_POINTS);
    expect(h[0].time).toBe(T0 + 10);
    expect(store.applyPnl(snap((T0 + 2) * 1000, -1))).toBe(false);
    expect(h[0].time).toBe(T0 + 10);
    expect(store.applyPnl(snap((T0 + 11) * 1000, -1))).toBe(true); // a hole inside: filled, the oldest makes room
    expect(h.length).toBe(MAX_PNL_POINTS);
    expect(h[0].time).toBe(T0 + 11);
    expect(h[1].time).toBe(T0 + 12);
  });

  it('#refPrice is the open of the oldest bar held, else the first trade seen, else null', () => {
    const store = new MarketStore();
    const st = store.get('AAPL');
    expect(store.refPrice(st)).toBeNull();
    store.applyTick(tick(190.5), 1);
    store.applyTick(tick(191), 2);
    expect(store.refPrice(st)).toBe(190.5);
    expect(st.prevLast).toBe(190.5);
    store.applyBar(bar(T0 + 5, 195, 'AAPL', 194), 3, 2);
    store.applyBar(bar(T0 + 1, 189, 'AAPL', 188), 4, 1);
    expect(store.refPrice(st)).toBe(188);
    // A longer timeframe reaching further back (warm history) is the session's start.
    store.applyBar(bar(T0 - 3600, 180, 'AAPL', 170), 5, 1, '1m');
    expect(store.refPrice(st)).toBe(170);
  });

  it('#applyBar keeps each timeframe its own series; #lastPrice is the last trade, else the newest 1 s close', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0, 100), 1, 1);
    store.applyBar(bar(T0 - 60, 99), 2, 1, '1m');
    store.applyBar(bar(T0 - 120, 98), 3, 2, '1m');
    expect(times(store.series('AAPL').bars)).toEqual([T0]);
    expect(times(store.series('AAPL', '1m').bars)).toEqual([T0 - 120, T0 - 60]);
    expect(store.series('AAPL', '5m').bars).toEqual([]);
    const st = store.get('AAPL');
    expect(store.lastPrice(st)).toBe(100);
    store.applyTick(tick(101), 4);
    expect(store.lastPrice(st)).toBe(101);
  });

  it('#resetGap counts in bars of the timeframe: 1 m bars a minute apart join up', () => {
    const store = new MarketStore();
    store.applyBar(bar(T0), 1, 1, '1m');
    store.barsReset('AAPL', '1m');
    store.applyBar(bar(T0 + 60), 2, 1, '1m');
    expect(store.resetGap('AAPL', '1m')).toBeNull();
    store.barsReset('AAPL', '1m');
    store.applyBar(bar(T0 + 300), 3, 1, '1m');
    expect(store.resetGap('AAPL', '1m')).toEqual([T0 + 120, T0 + 240]);
    expect(store.resetGap('AAPL')).toBeNull(); // the 1 s series was not reset
  });

  it('#get creates a symbol once, telling listeners; #list is sorted', () => {
    const store = new MarketStore();
    const seen: string[] = [];
    store.onNewSymbol((s) => seen.push(s));
    store.applyTick(tick(10, 'MSFT'), 1);
    store.applyBar(bar(T0, 10, 'AAPL'), 1, 1);
    store.applyTick(tick(11, 'MSFT'), 2);
    store.addFill(fill(1, 1, 'BTC-USD'));
    expect(seen).toEqual(['MSFT', 'AAPL', 'BTC-USD']);
    expect(store.list()).toEqual(['AAPL', 'BTC-USD', 'MSFT']);
  });
});

describe('fillKey', () => {
  it('#fillKey is id, time and symbol', () => {
    expect(fillKey(fill(7, 1_764_100_000_123, 'BTC-USD'))).toBe('7@1764100000123:BTC-USD');
    expect(fillKey(fill(7, 1))).not.toBe(fillKey(fill(7, 2)));
    expect(fillKey(fill(7, 1, 'A'))).not.toBe(fillKey(fill(7, 1, 'B')));
  });
});

describe('symbolOf', () => {
  it('#symbolOf takes the last token of a topic', () => {
    expect(symbolOf('ticks.AAPL')).toBe('AAPL');
    expect(symbolOf('bars.1s.BTC-USD')).toBe('BTC-USD');
    expect(symbolOf('AAPL')).toBe('AAPL');
  });
});

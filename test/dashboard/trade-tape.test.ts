import { describe, expect, it } from 'vitest';
import { MAX_TAPE, TradeTape, type TapePrint } from '../../dashboard/src/trade-tape.ts';

const trade = (id: number, time = 1_764_100_000_000 + id * 100, size = 1): TapePrint => ({ id, price: 100 + id / 100, size, side: id % 2 ? 'buy' : 'sell', time });

describe('TradeTape', () => {
  it('#add keeps the newest first, drops replays and counts prints added on top', () => {
    const tape = new TradeTape();
    for (let i = 1; i <= 5; i++) expect(tape.add(trade(i))).toBe(true);
    expect(tape.add(trade(3))).toBe(false);
    expect(tape.trades.map((t) => t.id)).toEqual([5, 4, 3, 2, 1]);
    expect(tape.added).toBe(5);
    expect(tape.rebuilds).toBe(0);
  });

  it('#add places a late trade by time and asks for a rebuild; the same id at another time is another trade', () => {
    const tape = new TradeTape();
    tape.add(trade(1));
    tape.add(trade(3));
    tape.add(trade(2));
    expect(tape.trades.map((t) => t.id)).toEqual([3, 2, 1]);
    expect(tape.rebuilds).toBe(1);
    expect(tape.add(trade(1, 1))).toBe(true); // a restarted producer numbering from 1 again
    expect(tape.trades.length).toBe(4);
  });

  it('#add holds at most MAX_TAPE, forgetting the oldest, and refuses older trades when full', () => {
    const tape = new TradeTape();
    for (let i = 1; i <= MAX_TAPE + 30; i++) tape.add(trade(i));
    expect(tape.trades.length).toBe(MAX_TAPE);
    expect(tape.trades.at(-1)!.id).toBe(31);
    expect(tape.add(trade(5))).toBe(false);
    expect(tape.add(trade(30, trade(31).time))).toBe(true); // same time as the oldest: kept in order
    expect(tape.trades.length).toBe(MAX_TAPE);
  });

  it('#largeSize is 4x the median size once 20 trades are known; #clear starts over', () => {
    const tape = new TradeTape();
    for (let i = 1; i <= 19; i++) tape.add(trade(i, undefined, i === 19 ? 50 : 2));
    expect(tape.largeSize()).toBe(Infinity);
    tape.add(trade(20, undefined, 3));
    expect(tape.largeSize()).toBe(8);
    const rebuilds = tape.rebuilds;
    tape.clear();
    expect(tape.trades).toEqual([]);
    expect(tape.rebuilds).toBe(rebuilds + 1);
    expect(tape.add(trade(1))).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { OrderBook, bookChecksum } from '../../protocol/book.ts';
import type { BookMessage, Tick } from '../../protocol/feeds.ts';
import { BookModel } from '../../simulator/book.ts';
import { DEFAULT_SPECS, SymbolMarket } from '../../simulator/market.ts';
import { Random } from '../../simulator/random.ts';

const T0 = Date.UTC(2024, 5, 3, 13, 30, 0);

/** Step one symbol `n` times; the book's messages as the simulator publishes them. */
function run(symbol: string, n: number, seed = 3): { ticks: Tick[]; messages: BookMessage[]; model: BookModel } {
  const spec = DEFAULT_SPECS.find((s) => s.symbol === symbol)!;
  const market = new SymbolMarket(spec, new Random(seed));
  const model = new BookModel(spec, new Random(seed + 1000));
  const ticks: Tick[] = [];
  const messages: BookMessage[] = [];
  for (let i = 0; i < n; i++) {
    const t = market.step(200);
    ticks.push(t);
    const update = model.step(t, T0 + i * 200);
    if (i === 0) messages.push(model.snapshot());
    else if (update) messages.push(update);
  }
  return { ticks, messages, model };
}

describe('BookModel', () => {
  it('keeps at least 20 levels a side in book order, its top the tick quote, every step', () => {
    for (const symbol of ['AAPL', 'BTC-USD', 'ETH-USD', 'EURUSD']) {
      const spec = DEFAULT_SPECS.find((s) => s.symbol === symbol)!;
      const market = new SymbolMarket(spec, new Random(11));
      const model = new BookModel(spec, new Random(12));
      const problems: string[] = [];
      for (let i = 0; i < 400; i++) {
        const t = market.step(200);
        model.step(t, T0 + i * 200);
        const { bids, asks, checksum } = model.snapshot();
        const at = `${symbol} step ${i}`;
        if (bids.length < 20 || asks.length < 20) problems.push(`${at}: ${bids.length} bids, ${asks.length} asks`);
        if (bids[0][0] !== t.bid || asks[0][0] !== t.ask) problems.push(`${at}: top ${bids[0][0]}/${asks[0][0]} vs tick ${t.bid}/${t.ask}`);
        for (let k = 1; k < bids.length; k++) if (!(bids[k][0] < bids[k - 1][0])) problems.push(`${at}: bids out of order`);
        for (let k = 1; k < asks.length; k++) if (!(asks[k][0] > asks[k - 1][0])) problems.push(`${at}: asks out of order`);
        for (const [price, size] of [...bids, ...asks]) {
          const lots = size / spec.lotSize;
          if (!(size > 0) || Math.abs(lots - Math.round(lots)) > 1e-6) problems.push(`${at}: size ${size}`);
          if (/\d{7,}/.test(String(price))) problems.push(`${at}: price ${price}`); // no float artefacts
        }
        if (checksum !== bookChecksum(bids, asks)) problems.push(`${at}: checksum`);
      }
      expect(problems).toEqual([]);
    }
  });

  it('publishes updates that rebuild exactly its book, each one small', () => {
    const { messages, model } = run('ETH-USD', 1500);
    const reader = new OrderBook('ETH-USD');
    for (const m of messages) expect(reader.apply(m).kind).toBe('applied');
    const final = model.snapshot();
    expect(reader.seq).toBe(final.seq);
    expect(reader.bids).toEqual(final.bids);
    expect(reader.asks).toEqual(final.asks);
    // Increments, not books: on average far fewer levels than the 50 of a snapshot.
    const updates = messages.filter((m) => m.type === 'update');
    const levels = updates.reduce((n, u) => n + u.bids.length + u.asks.length, 0) / updates.length;
    expect(levels).toBeLessThan(20);
    expect(updates.map((u) => u.seq)).toEqual(updates.map((_, i) => i + 2));
  });

  it('moves with the market: sizes change and the trade takes size off the level it hit', () => {
    const { ticks, messages } = run('AAPL', 300);
    const reader = new OrderBook('AAPL');
    reader.apply(messages[0]);
    let hits = 0;
    for (let i = 1; i < messages.length; i++) {
      const before = new Map([...reader.bids, ...reader.asks]);
      reader.apply(messages[i]);
      const t = ticks[i];
      const top = t.last === t.ask ? reader.asks[0] : reader.bids[0];
      if (before.has(top[0]) && before.get(top[0])! > t.size && top[1] < before.get(top[0])!) hits++;
    }
    expect(hits).toBeGreaterThan(50);
  });

  it('is deterministic by seed', () => {
    expect(run('BTC-USD', 200, 5).messages).toEqual(run('BTC-USD', 200, 5).messages);
    expect(run('BTC-USD', 200, 6).messages).not.toEqual(run('BTC-USD', 200, 5).messages);
  });

  it('refuses a tick of another symbol and has no snapshot before its first step', () => {
    const model = new BookModel(DEFAULT_SPECS[0], new Random(1));
    expect(() => model.snapshot()).toThrow(/first step/);
    expect(() => model.step({ symbol: 'MSFT', bid: 1, ask: 2, last: 1, size: 1 }, T0)).toThrow(/MSFT/);
  });
});

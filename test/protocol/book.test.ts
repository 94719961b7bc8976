import { describe, expect, it } from 'vitest';
import { OrderBook, bookChecksum, parseBookMessage } from '../../protocol/book.ts';
import { crc32 } from '../../protocol/crc32.ts';
import type { BookLevel, BookSnapshot, BookUpdate } from '../../protocol/feeds.ts';

const bids: BookLevel[] = [[99.5, 10], [99, 4], [98.5, 7]];
const asks: BookLevel[] = [[100, 3], [100.5, 8], [101, 2]];

function snapshot(seq: number, b = bids, a = asks, time = 1000 + seq): BookSnapshot {
  return { type: 'snapshot', symbol: 'AAPL', seq, time, bids: b, asks: a, checksum: bookChecksum(b, a) };
}

/** The publisher's side: apply changes to a copy of the book and checksum the result. */
class Publisher {
  bids = bids.map((l): BookLevel => [...l]);
  asks = asks.map((l): BookLevel => [...l]);
  seq = 1;
  update(changes: { bids?: BookLevel[]; asks?: BookLevel[] }): BookUpdate {
    const msg: BookUpdate = { type: 'update', symbol: 'AAPL', seq: ++this.seq, time: 1000 + this.seq, bids: changes.bids ?? [], asks: changes.asks ?? [], checksum: 0 };
    // Apply without the check to learn the resulting book, then stamp its checksum.
    for (const [p, s] of msg.bids) setSide(this.bids, p, s, -1);
    for (const [p, s] of msg.asks) setSide(this.asks, p, s, 1);
    msg.checksum = bookChecksum(this.bids, this.asks);
    return msg;
  }
}

function setSide(side: BookLevel[], price: number, size: number, dir: -1 | 1): void {
  const i = side.findIndex((l) => l[0] === price);
  if (i >= 0) side.splice(i, 1);
  if (size > 0) {
    side.push([price, size]);
    side.sort((x, y) => (x[0] - y[0]) * dir);
  }
}

describe('bookChecksum', () => {
  it('is the CRC-32 of asks then bids, best first, as price:size', () => {
    expect(bookChecksum([[99.5, 10], [99, 4]], [[100, 3]])).toBe(crc32('100:3|99.5:10,99:4'));
    expect(bookChecksum([[1.08501, 250000]], [[1.08503, 1e-7]])).toBe(crc32('1.08503:1e-7|1.08501:250000'));
  });

  it('changes when any level changes, however deep', () => {
    const deep: BookLevel[] = Array.from({ length: 25 }, (_, i) => [100 - i, 10 + i]);
    const moved = deep.map((l): BookLevel => [...l]);
    moved[24][1] += 1;
    expect(bookChecksum(moved, asks)).not.toBe(bookChecksum(deep, asks));
  });
});

describe('parseBookMessage', () => {
  it('accepts the feed shapes and refuses anything else', () => {
    expect(parseBookMessage(snapshot(1))).not.toBeNull();
    const bad: unknown[] = [
      null,
      'x',
      { ...snapshot(1), type: 'delta' },
      { ...snapshot(1), seq: -1 },
      { ...snapshot(1), seq: 1.5 },
      { ...snapshot(1), checksum: 2 ** 32 },
      { ...snapshot(1), bids: [[99, 0]] }, // a snapshot holds no empty level
      { ...snapshot(1), bids: [[99, 1], [99.5, 1]] }, // bids must fall
      { ...snapshot(1), asks: [[101, 1], [100, 1]] }, // asks must rise
      { ...snapshot(1), asks: [['100', 1]] },
      { ...snapshot(1), asks: [[100, Number.NaN]] },
      { ...snapshot(1), asks: [[100, 1, 2]] },
      { ...snapshot(1), asks: Array.from({ length: 1001 }, (_, i) => [100 + i, 1]) },
    ];
    for (const m of bad) expect(parseBookMessage(m), JSON.stringify(m)?.slice(0, 80)).toBeNull();
  });
});

describe('OrderBook', () => {
  it('waits for a snapshot, then applies updates whose checksum matches', () => {
    const pub = new Publisher();
    const book = new OrderBook('AAPL');
    const early = pub.update({ bids: [[99.5, 12]] }); // seq 2, before the reader has a book
    expect(book.apply(early)).toEqual({ kind: 'buffered' });
    expect(book.synced).toBe(false);
    expect(book.apply(snapshot(1))).toEqual({ kind: 'applied', type: 'snapshot' });
    // The buffered update went on top of the snapshot.
    expect(book.seq).toBe(2);
    expect(book.bids[0]).toEqual([99.5, 12]);
    expect(book.apply(pub.update({ asks: [[100, 0], [100.25, 5]], bids: [[98, 1]] }))).toEqual({ kind: 'applied', type: 'update' });
    expect(book.asks).toEqual([[100.25, 5], [100.5, 8], [101, 2]]);
    expect(book.bids.at(-1)).toEqual([98, 1]);
    expect(book.checksum()).toBe(bookChecksum(pub.bids, pub.asks));
  });

  it('ignores copies of what it already applied (a replay after a resume)', () => {
    const pub = new Publisher();
    const book = new OrderBook('AAPL');
    book.apply(snapshot(1));
    const u2 = pub.update({ bids: [[99, 5]] });
    const u3 = pub.update({ bids: [[99, 6]] });
    book.apply(u2);
    book.apply(u3);
    expect(book.apply(u2)).toEqual({ kind: 'ignored', why: 'stale' });
    expect(book.apply(snapshot(1))).toEqual({ kind: 'ignored', why: 'stale' });
    expect(book.seq).toBe(3);
    expect(book.bids[1]).toEqual([99, 6]);
  });

  it('detects a corrupted update by its checksum, drops the book and resyncs from the next snapshot', () => {
    const pub = new Publisher();
    const book = new OrderBook('AAPL');
    book.apply(snapshot(1));
    const good = pub.update({ asks: [[100.5, 9]] });
    const corrupted: BookUpdate = { ...good, asks: [[100.5, 90]] }; // a size mangled on the way
    expect(book.apply(corrupted)).toEqual({ kind: 'resync', why: 'checksum' });
    expect(book.synced).toBe(false);
    expect(book.bids).toEqual([]);
    // Updates meanwhile wait; the snapshot at seq 2 plus the buffered seq 3 give the publisher's book.
    const next = pub.update({ bids: [[99.5, 1]] });
    expect(book.apply(next)).toEqual({ kind: 'buffered' });
    expect(book.apply(snapshot(2, pub.bids.slice(), [[100, 3], [100.5, 9], [101, 2]], good.time))).toEqual({ kind: 'applied', type: 'snapshot' });
    expect(book.synced).toBe(true);
    expect(book.seq).toBe(3);
    expect(book.checksum()).toBe(bookChecksum(pub.bids, pub.asks));
    expect(book.stats()).toMatchObject({ resyncs: 1, snapshots: 2 });
  });

  it('detects a corrupted snapshot', () => {
    const book = new OrderBook('AAPL');
    expect(book.apply({ ...snapshot(1), checksum: 12345 })).toEqual({ kind: 'resync', why: 'checksum' });
    expect(book.synced).toBe(false);
  });

  it('detects a gap (a skipped update: conflation, maxHz) and resyncs; a too-old snapshot keeps it unsynced', () => {
    const pub = new Publisher();
    const book = new OrderBook('AAPL');
    book.apply(snapshot(1));
    const s1 = { bids: pub.bids.map((l): BookLevel => [...l]), asks: pub.asks.map((l): BookLevel => [...l]) };
    pub.update({ bids: [[99, 1]] }); // seq 2: never delivered
    const u3 = pub.update({ bids: [[99, 2]] });
    expect(book.apply(u3)).toEqual({ kind: 'resync', why: 'gap' });
    // A snapshot older than the waiting update leaves a hole: still not synced.
    expect(book.apply(snapshot(1, s1.bids, s1.asks, 5000))).toMatchObject({ kind: 'resync', why: 'gap' });
    expect(book.synced).toBe(false);
    const snap3 = snapshot(3, pub.bids.map((l): BookLevel => [...l]), pub.asks.map((l): BookLevel => [...l]), u3.time);
    expect(book.apply(snap3)).toEqual({ kind: 'applied', type: 'snapshot' });
    expect(book.checksum()).toBe(bookChecksum(pub.bids, pub.asks));
  });

  it('takes a lower seq with a later time as a feed that started over, never as a copy', () => {
    const book = new OrderBook('AAPL');
    book.apply(snapshot(500, bids, asks, 10_000));
    const after: BookLevel[] = [[99.5, 1], ...bids.slice(1)];
    const restarted: BookUpdate = { type: 'update', symbol: 'AAPL', seq: 2, time: 20_000, bids: [[99.5, 1]], asks: [], checksum: bookChecksum(after, asks) };
    expect(book.apply(restarted)).toEqual({ kind: 'resync', why: 'restart' });
    // The new run's first snapshot, then its update (kept meanwhile) on top.
    expect(book.apply(snapshot(1, bids, asks, 19_000))).toEqual({ kind: 'applied', type: 'snapshot' });
    expect(book.seq).toBe(2);
    expect(book.bids[0]).toEqual([99.5, 1]);
  });

  it('ignores messages of another symbol and non-book data', () => {
    const book = new OrderBook('AAPL');
    book.apply(snapshot(1));
    expect(book.apply({ ...snapshot(9), symbol: 'MSFT' })).toEqual({ kind: 'ignored', why: 'invalid' });
    expect(book.apply({ hello: 1 })).toEqual({ kind: 'ignored', why: 'invalid' });
    expect(book.seq).toBe(1);
  });

  it('bounds the updates it buffers', () => {
    const pub = new Publisher();
    const book = new OrderBook('AAPL', { maxBuffered: 3 });
    const updates = Array.from({ length: 10 }, (_, i) => pub.update({ bids: [[99, i + 1]] }));
    for (const u of updates) expect(book.apply(u)).toEqual({ kind: 'buffered' });
    // Only seq 9..11 are kept: a snapshot at seq 1 cannot be brought forward.
    expect(book.apply(snapshot(1))).toMatchObject({ kind: 'resync', why: 'gap' });
    expect(() => new OrderBook('AAPL', { maxBuffered: -1 })).toThrow(/maxBuffered/);
  });
});

import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../../server/broker/memory.ts';
import { Ring } from '../../../server/broker/ring.ts';
import { IDLE_TOPIC_MS, TooManyTopicsError, type Envelope } from '../../../server/broker/broker.ts';
import { scanPubs } from '../../../server/sessions/publish-scan.ts';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

describe('Ring', () => {
  it('keeps the newest `capacity` items in order through growth, shifts and wrap-around', () => {
    const ring = new Ring<number>(5);
    const model: number[] = [];
    for (let i = 0; i < 200; i++) {
      if (i % 7 === 3) {
        expect(ring.shift()).toBe(model.shift());
      } else {
        ring.push(i);
        model.push(i);
        if (model.length > 5) model.shift();
      }
      expect(Array.from({ length: ring.length }, (_, k) => ring.at(k))).toEqual(model);
    }
  });
});

/** A full garbage collection (the flag exposes `gc` to contexts created from now on). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('MemoryBroker', () => {
  it('keeps a message in history as its own text, not the whole frame it was read from', () => {
    const broker = new MemoryBroker({ retention: [{ pattern: '>', maxMessages: 1000, maxAgeSeconds: 60 }] });
    const heapAfter = (count: number): number => {
      collect();
      const before = process.memoryUsage().heapUsed;
      for (let k = 0; k < count; k++) {
        // A pubs frame padded to 60 KB, as a publisher may send it, read by the fast reader: its data is a slice of the frame.
        const frame = `{"op":"pubs","id":${k},"messages":[{"topic":"keep.a","data":{"n":${k},"note":"kept in history"}}${' '.repeat(60_000)}]}`;
        const { topics, data } = scanPubs(frame, 10)!;
        broker.publishNow(topics[0], data[0]); // no subscriber: nothing else reads the text
      }
      collect();
      return process.memoryUsage().heapUsed - before;
    };
    // 500 frames of 60 KB: 30 MB if each kept its frame; a few hundred KB as they are.
    expect(heapAfter(500)).toBeLessThan(5 * 2 ** 20);
    expect(broker.historyNow('keep.a', {}).messages).toHaveLength(500);
  });

  const make = (maxMessages = 5, maxAgeSeconds = 60, now = () => 1000) =>
    new MemoryBroker({ retention: [{ pattern: '>', maxMessages, maxAgeSeconds }], now });

  it('#publish assigns per-topic seqs from 1, encodes once and delivers', async () => {
    const broker = make();
    const seen: Envelope[] = [];
    broker.onDeliver((e) => seen.push(e));
    await broker.publish('a', '{"x":1}');
    await broker.publish('a', '2');
    await broker.publish('b', '"s"');
    expect(seen.map((e) => [e.topic, e.seq])).toEqual([['a', 1], ['a', 2], ['b', 1]]);
    expect(JSON.parse(seen[0].json)).toEqual({ topic: 'a', seq: 1, ts: 1000, data: { x: 1 } });
  });

  it('#history pages by since and limit and flags truncation', async () => {
    const broker = make(5);
    for (let i = 1; i <= 8; i++) await broker.publish('t', String(i));
    const seqs = (p: { messages: Envelope[] }) => p.messages.map((m) => m.seq);
    expect(seqs(await broker.history('t', {}))).toEqual([4, 5, 6, 7, 8]);
    expect(seqs(await broker.history('t', { limit: 2 }))).toEqual([7, 8]);
    expect(seqs(await broker.history('t', { since: 5 }))).toEqual([6, 7, 8]);
    expect(seqs(await broker.history('t', { since: 5, limit: 1 }))).toEqual([6]);
    expect(await broker.history('t', { since: 3 })).toMatchObject({ truncated: false, lastSeq: 8 });
    expect(await broker.history('t', { since: 1 })).toMatchObject({ truncated: true });
    expect(await broker.history('t', { since: 8 })).toMatchObject({ truncated: false, messages: [] });
    expect(await broker.history('nope', {})).toMatchObject({ messages: [], lastSeq: 0 });
  });

  it('trims by age', async () => {
    let now = 0;
    const broker = make(100, 10, () => now);
    await broker.publish('t', '1');
    now = 5_000;
    await broker.publish('t', '2');
    now = 12_000;
    expect((await broker.history('t', {})).messages.map((m) => m.seq)).toEqual([2]);
  });

  it('has a fresh epoch per instance', () => {
    expect(make().epoch).not.toBe(make().epoch);
  });
});

describe('MemoryBroker topic limits', () => {
  it('refuses a new topic beyond maxTopics with TooManyTopicsError; existing topics still publish', async () => {
    const broker = new MemoryBroker({ retention: [{ pattern: '>', maxMessages: 5, maxAgeSeconds: 60 }], maxTopics: 2 });
    await broker.publish('a', '1');
    await broker.publish('b', '1');
    await expect(broker.publish('c', '1')).rejects.toBeInstanceOf(TooManyTopicsError);
    await expect(broker.publish('a', '2')).resolves.toMatchObject({ seq: 2 });
    await broker.close();
  });

  it('#sweep forgets topics idle past their max age (or IDLE_TOPIC_MS when kept nothing), a bounded slice per call', async () => {
    let now = 0;
    const retention = [{ pattern: 'k.>', maxMessages: 5, maxAgeSeconds: 10 }];
    const broker = new MemoryBroker({ retention, now: () => now });
    for (let i = 0; i < 10; i++) await broker.publish(`k.${i}`, '1');
    await broker.publish('none', '1'); // no rule: keeps nothing
    now = 9_000;
    await broker.publish('k.0', '2');
    now = 10_500;
    expect(broker.sweep(4)).toBe(3); // k.1..k.3 aged out; k.0 is fresh
    expect(broker.sweep(100)).toBe(6); // k.4..k.9; 'none' waits for IDLE_TOPIC_MS
    expect((await broker.topics()).sort()).toEqual(['k.0', 'none']);
    now = IDLE_TOPIC_MS + 1;
    await broker.publish('k.0', '3');
    broker.sweep(100);
    expect(await broker.topics()).toEqual(['k.0']);
    await expect(broker.publish('k.5', '1')).resolves.toMatchObject({ seq: 1 }); // starts over
    await broker.close();
  });
});

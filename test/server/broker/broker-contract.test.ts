/**
 * One contract, every Broker: the same tests run against the memory broker and the Redis broker
 * (a private redis-server started by this file). Presence has its own contract:
 * test/server/broker/presence-contract.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker, Envelope } from '../../../server/broker/broker.ts';
import { MemoryBroker } from '../../../server/broker/memory.ts';
import { RedisBroker } from '../../../server/broker/redis/broker.ts';
import type { RetentionRule } from '../../../server/config.ts';
import { createClient } from 'redis';
import { TestRedis } from '../../support/redis-server.ts';
import { until } from '../../support/until.ts';

const retention: RetentionRule[] = [
  { pattern: 'short.>', maxMessages: 5, maxAgeSeconds: 3600 },
  { pattern: 'aged.>', maxMessages: 100, maxAgeSeconds: 1 },
  { pattern: 'none.>', maxMessages: 0, maxAgeSeconds: 0 },
  { pattern: '>', maxMessages: 1000, maxAgeSeconds: 3600 },
];

let redis: TestRedis;
let prefixCounter = 0;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.stop();
});

interface Factory {
  name: string;
  /** A fresh broker with empty history; `peer` shares its history (same cluster) if the broker supports it. */
  create(shared?: string): Promise<Broker>;
  shared: boolean;
}

const factories: Factory[] = [
  { name: 'MemoryBroker', shared: false, create: async () => new MemoryBroker({ retention }) },
  {
    name: 'RedisBroker',
    shared: true,
    create: async (shared) => RedisBroker.connect({ url: redis.url, retention, prefix: shared ?? `c${++prefixCounter}:`, heartbeatMs: 100, nodeTtlMs: 400 }),
  },
];

const seqs = (messages: Envelope[]) => messages.map((m) => m.seq);

for (const factory of factories) {
  describe(`Broker contract: ${factory.name}`, () => {
    const open: Broker[] = [];
    const make = async (shared?: string) => {
      const b = await factory.create(shared);
      open.push(b);
      return b;
    };
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close();
    });

    it('assigns seqs from 1 per topic and delivers subscribed topics in order, with the wire JSON', async () => {
      const b = await make();
      const seen: Envelope[] = [];
      b.onDeliver((e) => seen.push(e));
      await b.subscribe('a');
      await b.subscribe('b');
      const e1 = await b.publish('a', '{"x":1}');
      await b.publish('a', '2');
      await b.publish('b', '"s"');
      expect(e1).toMatchObject({ topic: 'a', seq: 1 });
      expect(JSON.parse(e1.json)).toEqual({ topic: 'a', seq: 1, ts: e1.ts, data: { x: 1 } });
      expect(Math.abs(e1.ts - Date.now())).toBeLessThan(5000);
      await until('seen.length === 3', () => seen.length === 3);
      expect(seen.map((e) => [e.topic, e.seq])).toEqual([['a', 1], ['a', 2], ['b', 1]]);
      expect(seen[0].json).toBe(e1.json);
    });

    it('#publish gives every message a pos, strictly increasing across topics, returned live and by history', async () => {
      const b = await make();
      const seen: Envelope[] = [];
      b.onDeliver((e) => e.topic.startsWith('p.') && seen.push(e)); // the memory broker delivers everything
      await b.subscribe('p.*');
      expect(await b.position()).toBe(0);
      const sent = await Promise.all(['p.a', 'p.b', 'p.a', 'p.c', 'p.b'].map((t, i) => b.publish(t, String(i))));
      await b.publish('none.x', '0'); // kept nowhere, still positioned
      const positions = sent.map((e) => e.pos).sort((x, y) => x - y);
      expect(new Set(positions).size).toBe(5);
      expect(positions[0]).toBeGreaterThan(0);
      expect(await b.position()).toBe(positions[4] + 1);
      await until('seen.length === 5', () => seen.length === 5);
      for (const e of seen) expect(e.pos).toBe(sent.find((s) => s.topic === e.topic && s.seq === e.seq)!.pos);
      const a = (await b.history('p.a', {})).messages;
      expect(a.map((e) => e.pos)).toEqual(sent.filter((e) => e.topic === 'p.a').map((e) => e.pos));
      expect(JSON.parse(a[0].json)).not.toHaveProperty('pos'); // the wire JSON is unchanged
    });

    it('keeps per-topic order under concurrent publishes', async () => {
      const b = await make();
      const seen: Envelope[] = [];
      b.onDeliver((e) => seen.push(e));
      await b.subscribe('ord.*');
      const acks = await Promise.all(Array.from({ length: 300 }, (_, i) => b.publish(`ord.${i % 3}`, String(i))));
      for (const t of ['ord.0', 'ord.1', 'ord.2']) expect(acks.filter((a) => a.topic === t).map((a) => a.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, k) => k + 1));
      await until('seen.length === 300', () => seen.length === 300);
      for (const t of ['ord.0', 'ord.1', 'ord.2']) expect(seqs(seen.filter((e) => e.topic === t))).toEqual(Array.from({ length: 100 }, (_, k) => k + 1));
    });

    it('pages history by since and limit and says truncated when the range is gone', async () => {
      const b = await make();
      for (let i = 1; i <= 8; i++) await b.publish('short.t', String(i));
      expect(seqs((await b.history('short.t', {})).messages)).toEqual([4, 5, 6, 7, 8]);
      expect(seqs((await b.history('short.t', { limit: 2 })).messages)).toEqual([7, 8]);
      expect(seqs((await b.history('short.t', { since: 5 })).messages)).toEqual([6, 7, 8]);
      expect(seqs((await b.history('short.t', { since: 5, limit: 1 })).messages)).toEqual([6]);
      expect((await b.history('short.t', { limit: 0 })).messages).toEqual([]);
      expect(await b.history('short.t', { since: 3 })).toMatchObject({ truncated: false, lastSeq: 8, epoch: b.epoch });
      expect(await b.history('short.t', { since: 1 })).toMatchObject({ truncated: true });
      expect(await b.history('short.t', { since: 8 })).toMatchObject({ truncated: false, messages: [] });
      expect(await b.history('nope', {})).toMatchObject({ messages: [], lastSeq: 0, truncated: false });
      const page = await b.history('short.t', { since: 6 });
      expect(JSON.parse(page.messages[0].json)).toMatchObject({ topic: 'short.t', seq: 7, data: 7 });
    });

    it('keeps nothing for a topic whose retention is 0, but still counts seqs', async () => {
      const b = await make();
      await b.publish('none.x', '1');
      const e = await b.publish('none.x', '2');
      expect(e.seq).toBe(2);
      expect(await b.history('none.x', {})).toMatchObject({ messages: [], lastSeq: 2 });
    });

    it('drops history older than the retention age', async () => {
      const b = await make();
      // Published to every 600 ms, so the topic is never idle for its max age (then it is forgotten, below).
      await b.publish('aged.t', '1');
      await new Promise((r) => setTimeout(r, 600));
      await b.publish('aged.t', '2');
      await new Promise((r) => setTimeout(r, 600));
      await b.publish('aged.t', '3');
      expect(seqs((await b.history('aged.t', {})).messages)).toEqual([2, 3]);
      expect(await b.history('aged.t', { since: 0 })).toMatchObject({ truncated: true });
    });

    it('forgets a topic idle past its max age: it leaves topics() and starts again at seq 1', async () => {
      const b = await make();
      await b.publish('aged.idle', '1');
      await b.publish('aged.idle', '2');
      const deadline = Date.now() + 8000;
      while ((await b.topics('aged.idle')).length > 0) {
        if (Date.now() > deadline) throw new Error('aged.idle was not forgotten');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await b.publish('aged.idle', '3')).toMatchObject({ seq: 1 });
    });

    it('lists topics, optionally by pattern', async () => {
      const b = await make();
      for (const t of ['tp.a', 'tp.b', 'tp.x.y', 'other']) await b.publish(t, '1');
      expect((await b.topics()).sort()).toEqual(['other', 'tp.a', 'tp.b', 'tp.x.y']);
      expect((await b.topics('tp.*')).sort()).toEqual(['tp.a', 'tp.b']);
      expect((await b.topics('tp.>')).sort()).toEqual(['tp.a', 'tp.b', 'tp.x.y']);
    });

    it('has a stable epoch and clock', async () => {
      const b = await make();
      expect(b.epoch).toMatch(/^[\w-]{4,}$/);
      const before = b.epoch;
      await b.publish('ep', '1');
      expect(b.epoch).toBe(before);
      expect(b.status).toBe('ok');
      expect(Math.abs(b.now() - Date.now())).toBeLessThan(1000);
    });

    it('delivers overlapping subscriptions once, and nothing after the last unsubscribe', async () => {
      const b = await make();
      const seen: Envelope[] = [];
      b.onDeliver((e) => seen.push(e));
      await b.subscribe('ov.a');
      await b.subscribe('ov.*');
      await b.subscribe('>');
      await b.publish('ov.a', '1');
      await b.publish('ov.a', '2');
      await until('seen.length >= 2', () => seen.length >= 2);
      await new Promise((r) => setTimeout(r, 50));
      expect(seqs(seen)).toEqual([1, 2]);
      if (factory.shared) {
        // Upstream is released with the last local subscriber.
        await b.unsubscribe('>');
        await b.unsubscribe('ov.*');
        await b.unsubscribe('ov.a');
        expect((b as RedisBroker).upstreamSubscriptions()).toEqual([]);
        await b.publish('ov.a', '3');
        await new Promise((r) => setTimeout(r, 100));
        expect(seqs(seen)).toEqual([1, 2]);
      }
    });

    if (factory.shared) {
      it('shares seqs, history and delivery between nodes', async () => {
        const shared = `sh${++prefixCounter}:`;
        const a = await make(shared);
        const b = await make(shared);
        expect(a.epoch).toBe(b.epoch);
        const seenB: Envelope[] = [];
        b.onDeliver((e) => seenB.push(e));
        await b.subscribe('x.*');
        await a.publish('x.1', '"from a"');
        await b.publish('x.1', '"from b"');
        await until('seenB.length === 2', () => seenB.length === 2);
        expect(seenB.map((e) => e.seq)).toEqual([1, 2]);
        expect(seenB[0].origin).toBeUndefined();
        expect(seqs((await a.history('x.1', {})).messages)).toEqual([1, 2]);
        // One position counter for the cluster: b's message comes after a's, whatever the topic.
        const later = await a.publish('x.2', '"later"');
        expect(later.pos).toBeGreaterThan(seenB[1].pos);
        expect(seenB[1].pos).toBeGreaterThan(seenB[0].pos);
        expect(await b.position()).toBe(later.pos);
      });

      it('#history counts a stream entry written without a pos (before positions existed) as pos 0', async () => {
        const prefix = `old${++prefixCounter}:`;
        const b = await make(prefix);
        await b.publish('x.1', '1');
        const raw = createClient({ url: redis.url });
        await raw.connect();
        await raw.hIncrBy(`${prefix}seq`, 'x.1', 1);
        await raw.xAdd(`${prefix}s:x.1`, '2-0', { j: '{"topic":"x.1","seq":2,"ts":1,"data":2}', t: String(Date.now()) });
        await raw.close();
        const page = await b.history('x.1', {});
        expect(page.messages.map((m) => [m.seq, m.pos])).toEqual([[1, 1], [2, 0]]);
      });
    }
  });
}

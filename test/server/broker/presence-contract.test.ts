/**
 * One contract, every Presence: the same tests run against MemoryPresence and RedisPresence (the
 * Redis broker's, on a private redis-server started by this file), then what only a cluster has:
 * nodes that die, and a Redis that loses the nicks hash.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryPresence } from '../../../server/broker/memory-presence.ts';
import type { Presence } from '../../../server/broker/presence.ts';
import { RedisBroker } from '../../../server/broker/redis/broker.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { sleep, until } from '../../support/until.ts';

let redis: TestRedis;
let roomCounter = 0;
beforeAll(async () => {
  redis = await TestRedis.start();
});
afterAll(async () => {
  await redis?.stop();
});

const open: RedisBroker[] = [];
afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
});

/** A Redis broker node in `room` (its key prefix): nodes of one room share presence. */
async function node(room: string, url = redis.url): Promise<RedisBroker> {
  const b = await RedisBroker.connect({ url, retention: [], prefix: room, heartbeatMs: 100, nodeTtlMs: 400 });
  open.push(b);
  return b;
}
const newRoom = () => `p${++roomCounter}:`;

interface Factory {
  name: string;
  /** A fresh, empty presence. */
  create(): Promise<Presence>;
}

const factories: Factory[] = [
  { name: 'MemoryPresence', create: async () => new MemoryPresence() },
  { name: 'RedisPresence', create: async () => (await node(newRoom())).presence },
];

for (const factory of factories) {
  describe(`Presence contract: ${factory.name}`, () => {
    it('gives nicks to one connection at a time, lists and releases them', async () => {
      const p = await factory.create();
      expect(await p.claim('alice', 'c1')).toBe(true);
      expect(await p.claim('alice', 'c1')).toBe(true);
      expect(await p.claim('alice', 'c2')).toBe(false);
      expect(await p.claim('bob', 'c2')).toBe(true);
      expect(await p.list()).toEqual(['alice', 'bob']);
      await p.release('alice', 'c2'); // not the holder: no effect
      expect(await p.list()).toEqual(['alice', 'bob']);
      await p.release('alice', 'c1');
      expect(await p.list()).toEqual(['bob']);
      expect(await p.claim('alice', 'c2')).toBe(true);
    });

    it('refuses a nick another connection holds until its holder releases it', async () => {
      const p = await factory.create();
      expect(await p.claim('dora', 'c1')).toBe(true);
      expect(await p.claim('dora', 'c2')).toBe(false);
      expect(await p.claim('dora', 'c3')).toBe(false);
      expect(await p.list()).toEqual(['dora']);
      await p.release('dora', 'c1');
      expect(await p.claim('dora', 'c3')).toBe(true);
      expect(await p.claim('dora', 'c1')).toBe(false);
    });

    it('lets a connection hold several nicks and release them one by one', async () => {
      const p = await factory.create();
      expect(await p.claim('n1', 'c1')).toBe(true);
      expect(await p.claim('n2', 'c1')).toBe(true);
      await p.release('n1', 'c1');
      expect(await p.list()).toEqual(['n2']);
      await p.release('n1', 'c1'); // already given back: no effect
      await p.release('never', 'c1'); // never held: no effect
      expect(await p.list()).toEqual(['n2']);
    });

    it('lists every nick sorted, whatever the order of claims', async () => {
      const p = await factory.create();
      expect(await p.list()).toEqual([]);
      for (const [i, nick] of ['zed', 'amy', 'Bob', 'mia', 'al'].entries()) expect(await p.claim(nick, `c${i}`)).toBe(true);
      expect(await p.list()).toEqual(['Bob', 'al', 'amy', 'mia', 'zed']);
    });

    it('gives a contested nick to exactly one of many concurrent claims', async () => {
      const p = await factory.create();
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => p.claim('race', `c${i}`)));
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(await p.list()).toEqual(['race']);
    });
  });
}

describe('RedisPresence across nodes', () => {
  it('holds a nick cluster-wide: the same connection id on another node is another connection', async () => {
    const room = newRoom();
    const a = await node(room);
    const b = await node(room);
    expect(await a.presence.claim('carol', 'c1')).toBe(true);
    expect(await b.presence.claim('carol', 'c1')).toBe(false); // same conn id, other node
    expect(await b.presence.list()).toEqual(['carol']);
    await b.presence.release('carol', 'c1'); // not its holder (other node): no effect
    expect(await a.presence.list()).toEqual(['carol']);
    await a.presence.release('carol', 'c1');
    expect(await b.presence.list()).toEqual([]);
    expect(await b.presence.claim('carol', 'c1')).toBe(true);
  });

  it("expires a dead node's nicks and reports them once", async () => {
    const room = newRoom();
    const a = await node(room);
    const b = await node(room);
    const expired: string[] = [];
    b.presence.onExpired((nicks) => expired.push(...nicks));
    await a.presence.claim('ghost', 'c1');
    // Simulate a dead node: stop its heartbeat without leaving.
    (a as unknown as { heartbeatTimer: NodeJS.Timeout }).heartbeatTimer.close();
    await until('expired.length > 0', () => expired.length > 0, 3000);
    expect(expired).toEqual(['ghost']);
    expect(await b.presence.list()).toEqual([]);
    expect(await b.presence.claim('ghost', 'c9')).toBe(true);
  });

  it("reports a dead node's nicks through one surviving node only", async () => {
    const room = newRoom();
    const dead = await node(room);
    const b = await node(room);
    const c = await node(room);
    const reports: [string, string[]][] = [];
    b.presence.onExpired((nicks) => reports.push(['b', nicks]));
    c.presence.onExpired((nicks) => reports.push(['c', nicks]));
    await dead.presence.claim('x1', 'c1');
    await dead.presence.claim('x2', 'c2');
    expect(await b.presence.claim('alive', 'c1')).toBe(true);
    (dead as unknown as { heartbeatTimer: NodeJS.Timeout }).heartbeatTimer.close();
    await until('a report', () => reports.length > 0, 3000);
    await sleep(500); // several more heartbeats of b and c: nothing is reported twice
    expect(reports.flatMap(([, nicks]) => nicks).sort()).toEqual(['x1', 'x2']);
    expect(await c.presence.list()).toEqual(['alive']);
  });

  it('reasserts its nicks after Redis lost the nicks hash, but never takes one someone else claimed meanwhile', async () => {
    const room = newRoom();
    const a = await node(room);
    const b = await node(room);
    await a.presence.claim('kept', 'c1');
    await a.presence.claim('taken', 'c2');
    await redis.command('DEL', `${room}nicks`);
    expect(await b.presence.list()).toEqual([]);
    expect(await b.presence.claim('taken', 'c9')).toBe(true); // b got there first
    await a.presence.reassert();
    expect(await b.presence.list()).toEqual(['kept', 'taken']);
    expect(await a.presence.claim('taken', 'c2')).toBe(false); // b's now
    await b.presence.release('taken', 'c9');
    await a.presence.reassert(); // a gave it up for good: nothing to take back
    expect(await b.presence.list()).toEqual(['kept']);
  });

  it('reasserts its nicks by itself when Redis restarts empty', async () => {
    const own = await TestRedis.start();
    try {
      const room = newRoom();
      const a = await node(room, own.url);
      expect(await a.presence.claim('survivor', 'c1')).toBe(true);
      await own.restart();
      await until('nick back after the restart', async () => (await a.presence.list().catch((): string[] => [])).includes('survivor'), 10_000);
      const b = await node(room, own.url);
      expect(await b.presence.claim('survivor', 'c2')).toBe(false);
    } finally {
      for (const b of open.splice(0)) await b.close();
      await own.stop();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openRawSocket } from '../../support/raw-socket.ts';
import { until } from '../../support/until.ts';
import { openSocket, openTap, sleep, type TestSocket } from '../../support/ws-client.ts';

const KEY = 'fanout-key';
const LIMIT = 64 * 1024;
let running: RunningHub;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  running = await startHub(testConfig({ publishKey: KEY, outboxLimitBytes: LIMIT, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 }));
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await running.close();
});

async function publisher(): Promise<TestSocket> {
  const p = await openSocket(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
  sockets.push(p);
  await p.nextJson((f) => f.op === 'welcome');
  return p;
}

/**
 * Publish `count` messages per topic, pipelined, waiting for an ack every `batch` rounds (a
 * producer at a realistic pace rather than one 10 MB burst), and for the last ack.
 */
async function blast(p: TestSocket, topics: string[], count: number, pad = 0, batch = count): Promise<void> {
  let id = 0;
  let acked = 0;
  for (let i = 1; i <= count; i++) {
    for (const topic of topics) p.send({ op: 'pub', id: ++id, topic, data: { i, pad: 'x'.repeat(pad) } });
    if (i % batch === 0 || i === count) {
      await p.nextJson((f) => f.op === 'ok' && f.id === id, 30_000);
      acked = id;
    }
  }
  expect(acked).toBe(id);
}

describe('fan-out', () => {
  it('a subscriber that keeps up gets every message exactly once, in seq order, with batching on', async () => {
    // Default outbox limit (1 MiB): the publisher below sends 9000 messages in one burst.
    const roomy = await startHub(testConfig({ publishKey: KEY, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 }));
    const topics = ['load.a', 'load.b', 'load.c'];
    const subs = await Promise.all(Array.from({ length: 20 }, () => openTap(`${roomy.wsUrl}/load.*`)));
    sockets.push(...subs);
    await sleep(50);
    const p = await openSocket(`${roomy.wsUrl}?token=${KEY}`, 'hub.v1');
    sockets.push(p);
    const N = 3000;
    await blast(p, topics, N);
    for (const s of subs) {
      await s.next((f) => f.includes('"topic":"load.c","seq":3000'), 15_000);
      for (const topic of topics) {
        const seqs = s.frames.map((f) => JSON.parse(f)).filter((m) => m.topic === topic).map((m) => m.seq);
        expect(seqs).toEqual(Array.from({ length: N }, (_, k) => k + 1));
      }
    }
    await roomy.close();
  });

  it('conflates for a consumer that stops reading: bounded outbox, latest value kept, fast peers unaffected', async () => {
    const slow = await openRawSocket(`${running.wsUrl}/ticks.*`);
    const fast = await openTap(`${running.wsUrl}/ticks.*`);
    sockets.push(fast);
    await sleep(50);
    slow.pause();
    const p = await publisher();
    const N = 6000;
    const rssBefore = process.memoryUsage().rss;
    let maxDepth = 0;
    const watch = setInterval(() => {
      for (const c of running.hub.connections) if (c.mode === 'tap') maxDepth = Math.max(maxDepth, c.outbox.depth);
    }, 1);
    await blast(p, ['ticks.X', 'ticks.Y'], N, 1000, 16); // ~12 MB offered to each subscriber
    clearInterval(watch);
    // The fast subscriber got everything, in order.
    await fast.next((f) => f.includes('"topic":"ticks.Y","seq":6000'), 15_000);
    const fastSeqs = fast.frames.map((f) => JSON.parse(f)).filter((m) => m.topic === 'ticks.X').map((m) => m.seq);
    expect(fastSeqs).toEqual(Array.from({ length: N }, (_, k) => k + 1));
    // The slow one never held much more than the limit, and its socket is still open.
    expect(maxDepth).toBeLessThan(LIMIT * 2 + 64 * 1024);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(running.hub.connections.size).toBeGreaterThan(0);
    // Once it reads again it ends on the latest value of each topic, having skipped some.
    slow.resume();
    const deadline = Date.now() + 10_000;
    // Text frames only: the raw socket also sees heartbeat pings (opcode 9, empty payload).
    const messages = () => slow.frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString()));
    const lastSeq = (topic: string) => Math.max(0, ...messages().filter((m) => m.topic === topic).map((m) => m.seq));
    while ((lastSeq('ticks.X') < N || lastSeq('ticks.Y') < N) && Date.now() < deadline) await sleep(20);
    expect(lastSeq('ticks.X')).toBe(N);
    expect(lastSeq('ticks.Y')).toBe(N);
    expect(messages().length).toBeLessThan(2 * N);
    const seqs = messages().filter((m) => m.topic === 'ticks.X').map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // skipped, never reordered
    const stats = (await (await fetch(`${running.httpUrl}/api/stats`)).json()) as { conflated: number };
    expect(stats.conflated).toBeGreaterThan(0);
    slow.socket.destroy();
  });

  it('closes a slow consumer 1008 on a disconnect-policy topic; fast peers keep everything', async () => {
    const slow = await openRawSocket(`${running.wsUrl}/orders.*`);
    const fast = await openTap(`${running.wsUrl}/orders.*`);
    sockets.push(fast);
    await sleep(50);
    slow.pause();
    const before = running.hub.counters.slowConsumerCloses;
    const p = await publisher();
    await blast(p, ['orders.eu'], 6000, 2000, 16);
    await fast.next((f) => f.includes('"seq":6000'), 15_000);
    expect(fast.frames).toHaveLength(6000);
    expect(running.hub.counters.slowConsumerCloses).toBe(before + 1);
    slow.resume();
    await slow.ended;
    const close = slow.frames.find((f) => f.opcode === 0x8);
    expect(close?.payload.readUInt16BE(0)).toBe(1008);
    expect(close?.payload.subarray(2).toString()).toBe('slow consumer');
  });

  it('maxHz delivers at most the asked rate and ends on the latest value', async () => {
    const tap = await openTap(`${running.wsUrl}/hz.*?maxHz=10`);
    const all = await openTap(`${running.wsUrl}/hz.*`);
    sockets.push(tap, all);
    await sleep(50);
    const p = await publisher();
    const started = Date.now();
    let id = 0;
    for (let i = 1; i <= 100; i++) {
      p.send({ op: 'pub', id: ++id, topic: 'hz.a', data: { i } });
      await sleep(10);
    }
    const elapsed = (Date.now() - started) / 1000;
    await all.next((f) => f.includes('"seq":100'));
    await tap.next((f) => f.includes('"seq":100'), 2000);
    const seqs = tap.frames.map((f) => JSON.parse(f).seq);
    expect(seqs.at(-1)).toBe(100);
    expect(seqs.length).toBeLessThanOrEqual(Math.ceil(elapsed * 10) + 2);
    expect(seqs.length).toBeGreaterThanOrEqual(Math.floor(elapsed * 10 * 0.5));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(all.frames).toHaveLength(100);
  });

  it('counts every delivery once, maxHz releases included, in stats, $sys.stats and /metrics', async () => {
    const counted = await startHub(testConfig({ publishKey: KEY }));
    try {
      const tap = await openTap(`${counted.wsUrl}/cnt.*?maxHz=5`);
      const sys = await openTap(`${counted.wsUrl}/$sys.stats`);
      sockets.push(tap, sys);
      await sleep(50);
      const before = counted.hub.stats().deliveries;
      for (let i = 1; i <= 20; i++) await counted.hub.publish('cnt.a', { i }); // one goes live, the latest is released later
      await tap.next((f) => f.includes('"seq":20'), 2000);
      expect(tap.frames.map((f) => JSON.parse(f).seq)).toEqual([1, 20]);
      expect(counted.hub.topicStats.counters().get('cnt.a')?.deliveries).toBe(2);
      const metrics = await (await fetch(`${counted.httpUrl}/metrics`)).text();
      expect(/^tickhub_deliveries_total\{prefix="cnt"\} (\d+)/m.exec(metrics)?.[1]).toBe('2');
      await until('a $sys.stats tick that counts both', () => sys.frames.some((f) => JSON.parse(f).data.deliveries >= before + 2), 3000);
    } finally {
      await counted.close();
    }
  });

  it('FLUSH_WINDOW_MS holds writes for the window, then sends every message once, in order', async () => {
    const windowed = await startHub(testConfig({ flushWindowMs: 40 }));
    try {
      const sub = await openTap(`${windowed.wsUrl}/win.t`);
      sockets.push(sub);
      await sleep(50);
      const started = performance.now();
      for (let i = 1; i <= 10; i++) {
        await windowed.hub.publish('win.t', { i }); // each from its own event-loop turn
        await new Promise((r) => setImmediate(r));
      }
      await sub.next((f) => f.includes('"seq":1,'));
      expect(performance.now() - started).toBeGreaterThanOrEqual(38); // nothing left before the window closed
      await sub.next((f) => f.includes('"seq":10,'));
      expect(sub.frames.map((f) => JSON.parse(f).data.i)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await windowed.close();
    }
  });
});

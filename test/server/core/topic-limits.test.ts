/**
 * Per-topic state, maxHz and parse limits under attack (docs/security.md): a publisher creating
 * topics without end, taps holding thousands of topics back with a tiny maxHz, and JSON nested
 * 30,000 deep. Each runs against a real hub while a well-behaved client must keep receiving.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { exemptFromTopicCap } from '../../../server/broker/broker.ts';
import type { MemoryBroker } from '../../../server/broker/memory.ts';
import { testConfig, type HubConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { openSocket, openTap, sleep, type TestSocket } from '../../support/ws-client.ts';
import { until } from '../../support/until.ts';

const KEY = 'topic-limits-key';
const hubs: RunningHub[] = [];
const sockets: TestSocket[] = [];
let redis: TestRedis | undefined;

afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await Promise.all(hubs.map((h) => h.close()));
  await redis?.stop();
});

async function hub(overrides: Partial<HubConfig> = {}): Promise<RunningHub> {
  const running = await startHub(testConfig({ publishKey: KEY, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000, ...overrides }));
  hubs.push(running);
  return running;
}

async function open(url: string, protocol?: string): Promise<TestSocket> {
  const s = !protocol && new URL(url).pathname.startsWith('/ws/') ? await openTap(url) : await openSocket(url, protocol);
  sockets.push(s);
  if (protocol) await s.nextJson((f) => f.op === 'welcome');
  return s;
}

/** Send pubs pipelined; resolves with every reply, in request order. */
async function publishAll(p: TestSocket, items: { topic: string; data: unknown }[]): Promise<Record<string, any>[]> {
  const first = Date.now() * 1000;
  items.forEach((item, i) => p.send({ op: 'pub', id: first + i, ...item }));
  const lastId = first + items.length - 1;
  await p.nextJson((f) => (f.op === 'ok' || f.op === 'error') && f.id === lastId, 30_000);
  const replies = p.frames.map((f) => JSON.parse(f)).filter((f) => typeof f.id === 'number' && f.id >= first && f.id <= lastId);
  return replies.sort((a, b) => a.id - b.id);
}

/** Round trip of an app-mode ping, ms. */
async function pingMs(s: TestSocket): Promise<number> {
  const id = `ping-${Math.random()}`;
  const started = performance.now();
  s.send({ op: 'ping', id });
  await s.nextJson((f) => f.op === 'ok' && f.id === id, 5000);
  return performance.now() - started;
}

/** A good subscriber on `topic` gets every one of `count` messages published meanwhile, in order. */
async function expectEvery(sub: TestSocket, topic: string, count: number): Promise<void> {
  await sub.next((f) => f.includes(`"topic":"${topic}","seq":${count},`), 10_000);
  const seqs = sub.frames.filter((f) => f.includes(`"topic":"${topic}"`)).map((f) => JSON.parse(f).seq);
  expect(seqs).toEqual(Array.from({ length: count }, (_, k) => k + 1));
}

describe('per-topic state', () => {
  it('refuses new topics beyond MAX_TOPICS, forgets aged-out topics, and a good subscriber keeps everything', async () => {
    const retention = [{ pattern: 'flood.>', maxMessages: 5, maxAgeSeconds: 2 }, { pattern: '>', maxMessages: 100, maxAgeSeconds: 600 }];
    const running = await hub({ maxTopics: 2000, retention });
    const broker = running.hub.broker as MemoryBroker;
    const good = await open(`${running.wsUrl}/good.feed`);
    const p = await open(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    await publishAll(p, [{ topic: 'good.feed', data: 0 }]);

    // 10k new topics interleaved with the good feed. Aging (2 s) may free room during a slow flood,
    // but never enough to let most of them in.
    const items = Array.from({ length: 10_000 }, (_, i) => (i % 100 === 0 ? { topic: 'good.feed', data: i } : { topic: `flood.t${i}`, data: i }));
    const replies = await publishAll(p, items);
    // Read at once: on a loaded machine the flood outlasts its 2 s age, and the first topics are already going.
    const countersBefore = (await running.hub.topics()).total;
    const refused = replies.filter((r) => r.op === 'error');
    expect(refused.length).toBeGreaterThan(4_000);
    expect(new Set(refused.map((r) => r.code))).toEqual(new Set(['too_many_topics']));
    expect(refused[0].message).toContain('MAX_TOPICS');
    expect((await broker.topics()).filter((t) => !exemptFromTopicCap(t)).length).toBeLessThanOrEqual(2000); // the hub's own topics come on top
    await expectEvery(good, 'good.feed', 101); // every good.feed publish was accepted and delivered

    // The flood ages out (2 s): the broker and the hub forget those topics; good.feed stays.
    expect(countersBefore).toBeGreaterThan(500);
    await until('flood topics forgotten', async () => (await broker.topicCount()) < 10 && (await running.hub.topics()).total < 10, 10_000);
    expect(await broker.topics('good.*')).toEqual(['good.feed']);

    // Room again; a forgotten topic starts over at seq 1, and a resume from its old seq gets a reset.
    const again = await publishAll(p, [{ topic: 'flood.t1', data: 'again' }]);
    expect(again[0]).toMatchObject({ op: 'ok', seq: 1 });
    p.send({ op: 'sub', id: 'resume', topic: 'flood.t1', since: 1, epoch: running.hub.epoch });
    await until('the flood topics to be forgotten', async () => (await broker.topicCount()) < 10, 5000);
    const app = await open(running.wsUrl, 'hub.v1');
    await publishAll(p, [{ topic: 'flood.t2', data: 1 }]);
    await until('flood.t2 forgotten', async () => !(await broker.topics('flood.t2')).includes('flood.t2'), 5000);
    app.send({ op: 'sub', id: 1, topic: 'flood.t2', since: 1, epoch: running.hub.epoch });
    expect(await app.nextJson((f) => f.op === 'reset')).toMatchObject({ topic: 'flood.t2', reason: 'trimmed' });
  }, 40_000);

  it('pages GET /api/topics and bounds line-mode /topics; the listing stays cheap', async () => {
    const running = await hub({ retention: [{ pattern: '>', maxMessages: 1, maxAgeSeconds: 600 }] });
    const p = await open(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    await publishAll(p, Array.from({ length: 3000 }, (_, i) => ({ topic: `page.t${String(i).padStart(4, '0')}`, data: i })));
    const get = async (query: string) => {
      const res = await fetch(`${running.httpUrl}/api/topics${query}`);
      return { status: res.status, body: (await res.json()) as any, bytes: Number(res.headers.get('content-length') ?? 0) };
    };
    const first = await get('');
    expect(first.body.topics).toHaveLength(500);
    expect(first.body.next).toBe(first.body.topics[499].topic);
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await get(`?prefix=page.&limit=1000${after ? `&after=${after}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.topics.length).toBeLessThanOrEqual(1000);
      seen.push(...page.body.topics.map((t: any) => t.topic));
      after = page.body.next;
    } while (after);
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => `page.t${String(i).padStart(4, '0')}`));
    expect((await get('?limit=5001')).body.error).toMatchObject({ code: 'bad_request', message: expect.stringContaining('5000') });
    expect((await get('?limit=0')).status).toBe(400);

    // Ten listings at once cost little: a ping from another client stays fast.
    const pinger = await open(running.wsUrl, 'hub.v1');
    const listings = Promise.all(Array.from({ length: 10 }, () => get('?limit=5000')));
    expect(await pingMs(pinger)).toBeLessThan(500);
    await listings;

    const line = await open(running.wsUrl);
    await line.next((f) => f.includes('welcome'));
    line.send('/topics');
    const reply = await line.next((f) => f.startsWith('* topics:'));
    expect(reply.split('\n').length).toBeLessThan(60);
    expect(reply).toMatch(/\.\.\. and \d+ more, see \/api\/topics/);
  }, 30_000);

  it('Redis: MAX_TOPICS is checked atomically in the publish script and idle topics are swept', async () => {
    redis = await TestRedis.start();
    const retention = [{ pattern: 'rflood.>', maxMessages: 5, maxAgeSeconds: 1 }, { pattern: '>', maxMessages: 100, maxAgeSeconds: 600 }];
    const running = await hub({ redisUrl: redis.url, maxTopics: 40, retention });
    const good = await open(`${running.wsUrl}/rflood.keep`);
    const p = await open(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    await sleep(100); // the tap's upstream subscription
    const replies = await publishAll(p, Array.from({ length: 100 }, (_, i) => ({ topic: `rflood.t${i}`, data: i })));
    const refused = replies.filter((r) => r.op === 'error');
    expect(refused.length).toBeGreaterThanOrEqual(60);
    expect(refused[0]).toMatchObject({ code: 'too_many_topics', message: expect.stringContaining('MAX_TOPICS') });
    expect((await running.hub.broker.topics()).filter((t) => !exemptFromTopicCap(t)).length).toBeLessThanOrEqual(40);
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tickhub_topics \d+/m);

    // Aged out after 1 s, swept by the node's periodic SWEEP script.
    await until('rflood topics swept', async () => (await running.hub.broker.topics('rflood.>')).length === 0, 10_000);
    // The live subscriber's node takes the restarted seq 1 as new, not as a duplicate.
    expect(await publishAll(p, [{ topic: 'rflood.keep', data: 'a' }])).toMatchObject([{ op: 'ok', seq: 1 }]);
    await good.next((f) => f.includes('"data":"a"'));
    await until('rflood.keep swept', async () => (await running.hub.broker.topics('rflood.>')).length === 0, 10_000);
    expect(await publishAll(p, [{ topic: 'rflood.keep', data: 'b' }])).toMatchObject([{ op: 'ok', seq: 1 }]);
    expect(JSON.parse(await good.next((f) => f.includes('"data":"b"')))).toMatchObject({ seq: 1 });
  }, 40_000);
});

describe('topic cap lockout', () => {
  const FLOOD_KEY = 'flood-key-0123456789';
  it.each(['memory', 'redis'] as const)('a publisher filling MAX_TOPICS cannot lock the hub out of chat and $sys.stats (%s broker)', async (kind) => {
    if (kind === 'redis') redis ??= await TestRedis.start();
    const running = await hub({
      maxTopics: 50,
      redisUrl: kind === 'redis' ? redis!.url : null,
      apiKeys: [{ key: FLOOD_KEY, role: 'publisher', publish: ['fl.>'], name: 'API_KEYS[1]' }],
    });
    const flooder = await open(`${running.wsUrl}?token=${FLOOD_KEY}`, 'hub.v1');
    const replies = await publishAll(flooder, Array.from({ length: 100 }, (_, i) => ({ topic: `fl.t${i}`, data: i })));
    expect(replies.filter((r) => r.op === 'error').map((r) => r.code)).toContain('too_many_topics');
    // chat did not exist yet: a line-mode operator still joins and speaks, and the hub still reports.
    const line = await open(running.wsUrl);
    await line.next((f) => f.startsWith('* welcome'));
    const listener = await open(running.wsUrl);
    await listener.next((f) => f.startsWith('* welcome'));
    line.send('hello past the cap');
    await listener.next((f) => f.endsWith(': hello past the cap'));
    expect(line.frames.filter((f) => f.startsWith('!'))).toEqual([]);
    await until('$sys.stats to exist', async () => (await running.hub.broker.topics('$sys.stats')).length === 1, 3000);
    expect(await running.hub.broker.topics('chat')).toEqual(['chat']);
  }, 20_000);
});

describe('maxHz', () => {
  it('many taps with a tiny maxHz over thousands of topics keep the loop responsive; a maxHz=2 tap gets the latest per topic', async () => {
    const running = await hub();
    const topics = Array.from({ length: 2000 }, (_, i) => `thr.t${i}`);
    const taps = await Promise.all(Array.from({ length: 100 }, () => open(`${running.wsUrl}/thr.>?maxHz=0.001`)));
    const hz2 = await open(`${running.wsUrl}/thr.>?maxHz=2`);
    const good = await open(`${running.wsUrl}/thr.good`);
    const pinger = await open(running.wsUrl, 'hub.v1');
    const p = await open(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    await sleep(50);
    const before = running.hub.stats().deliveries;
    const rss = process.memoryUsage().rss;
    // Round 1 goes out live to every tap (200k deliveries, received by this same process); then
    // every topic of every tap is held back, and holding must cost next to nothing.
    await publishAll(p, [...topics.map((topic) => ({ topic, data: 1 })), { topic: 'thr.good', data: 1 }]);
    await until('round 1 at every tap', () => taps.every((t) => t.frames.length >= 2001), 20_000);
    // A ping sent with a 2000-message burst waits for its fan-out (102 subscribers, this process):
    // bounded loosely. Between bursts, 200k (tap, topic) states are held and nothing walks them.
    const burst: number[] = [];
    const steady: number[] = [];
    for (let round = 2; round <= 4; round++) {
      const pubs = publishAll(p, [...topics.map((topic) => ({ topic, data: round })), { topic: 'thr.good', data: round }]);
      burst.push(await pingMs(pinger));
      await pubs;
      for (let i = 0; i < 3; i++) {
        steady.push(await pingMs(pinger));
        await sleep(20);
      }
    }
    expect(Math.max(...burst)).toBeLessThan(2000);
    expect(Math.max(...steady)).toBeLessThan(500);
    await expectEvery(good, 'thr.good', 4);
    for (const tap of taps) expect(tap.frames).toHaveLength(2001); // 0.001 Hz: nothing after the first of each topic (thr.good too)
    // The maxHz=2 tap ends on the latest value of every topic within ~1/2 s.
    const latest = new Map<string, number>();
    await until('maxHz=2 tap has the latest of every topic', () => {
      for (const f of hz2.frames.splice(0)) latest.set(JSON.parse(f).topic, JSON.parse(f).data);
      return topics.every((t) => latest.get(t) === 4);
    }, 5000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(300 * 1024 * 1024);
    // First values went out live, the latest ones from the due queue: both are deliveries.
    const stats = running.hub.stats();
    expect(stats.deliveries - before).toBeGreaterThanOrEqual(101 * 2000 + 2000 + 4);
    const metrics = await (await fetch(`${running.httpUrl}/metrics`)).text();
    expect(Number(/^tickhub_deliveries_total\{prefix="thr"\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(stats.deliveries - before - 10);
  }, 40_000);

  it('closes 1008 a tap whose maxHz holds more than OUTBOX_LIMIT_BYTES; others keep receiving', async () => {
    const running = await hub({ outboxLimitBytes: 16 * 1024 });
    const greedy = await open(`${running.wsUrl}/big.>?maxHz=0.001`);
    const good = await open(`${running.wsUrl}/big.good`);
    const p = await open(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    await sleep(50);
    await publishAll(p, Array.from({ length: 2000 }, (_, i) => ({ topic: i % 10 === 0 ? 'big.good' : `big.t${i % 500}`, data: i })));
    const closed = await greedy.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toContain('maxHz');
    expect(closed.reason).toContain('OUTBOX_LIMIT_BYTES');
    await expectEvery(good, 'big.good', 200);
  }, 20_000);
});

describe('parse limits', () => {
  it('answers 400 (not 500) to a 30,000-deep HTTP publish body and a bad_request to a deep app pub', async () => {
    const running = await hub();
    const good = await open(`${running.wsUrl}/deep.ok`);
    await sleep(20);
    const deep = '['.repeat(30_000) + ']'.repeat(30_000);
    const res = await fetch(`${running.httpUrl}/api/publish/deep.x`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: deep });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'bad_request', message: expect.stringContaining('64') });
    const p = await open(`${running.wsUrl}?token=${KEY}`, 'hub.v1');
    p.send(`{"op":"pub","id":1,"topic":"deep.x","data":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    expect(await p.nextJson((f) => f.id === 1)).toMatchObject({ op: 'error', code: 'bad_request' });
    expect(await publishAll(p, [{ topic: 'deep.ok', data: { a: [1] } }])).toMatchObject([{ op: 'ok', seq: 1 }]);
    await expectEvery(good, 'deep.ok', 1);
  });
});

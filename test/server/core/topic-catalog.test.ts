/**
 * The cluster-wide topic list (server/core/topic-catalog.ts): with two nodes on one Redis, node
 * A lists topics only node B published, with A's own counters merged in, over `GET /api/topics`
 * (paged) and line-mode `/topics`; the broker is asked at most once per CATALOG_TTL_MS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../../server/config.ts';
import { CATALOG_TTL_MS, TopicCatalog } from '../../../server/core/topic-catalog.ts';
import type { TopicInfo, TopicPage } from '../../../server/core/topic-stats.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { until } from '../../support/until.ts';
import { openSocket, openTap, type TestSocket } from '../../support/ws-client.ts';

const KEY = 'catalog-publish-key';
let redis: TestRedis;
let a: RunningHub;
let b: RunningHub;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  redis = await TestRedis.start();
  [a, b] = await Promise.all([0, 1].map(() => startHub(testConfig({ publishKey: KEY, redisUrl: redis.url }))));
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await Promise.all([a?.close(), b?.close()]);
  await redis?.stop();
});

async function publish(node: RunningHub, topic: string, data: unknown): Promise<void> {
  const res = await fetch(`${node.httpUrl}/api/publish/${topic}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(data) });
  expect(res.status).toBe(200);
}

const listing = async (node: RunningHub, query: string): Promise<TopicPage> => (await fetch(`${node.httpUrl}/api/topics?${query}`)).json() as Promise<TopicPage>;

describe('TopicCatalog', () => {
  it('lists on node A a topic published only on node B, in /api/topics and line-mode /topics', async () => {
    await publish(b, 'only.on.b', { n: 1 });
    await until('A lists only.on.b', async () => (await listing(a, 'prefix=only.')).topics.some((t) => t.topic === 'only.on.b'), 3000);
    const page = await listing(a, 'prefix=only.');
    expect(page.topics).toEqual([{ topic: 'only.on.b', subscribers: 0, messages: 0, rate: 0 }]);
    expect(page.total).toBeGreaterThanOrEqual(1);

    const line = await openSocket(a.wsUrl);
    sockets.push(line);
    line.send('/topics');
    expect(await line.next((f) => f.startsWith('* topics:'))).toContain('only.on.b  subscribers=0');
  });

  it('pages across the merged list: every topic of both nodes once, in order, with A\'s counters where it has them', async () => {
    const tap = await openTap(`${a.wsUrl}/page.a2`);
    sockets.push(tap);
    await until('A subscribed upstream to page.a2', () => a.hub.stats().subscriptions >= 1, 2000);
    const onA = ['page.a1', 'page.a2', 'page.a3'];
    const onB = ['page.b1', 'page.b2', 'page.b3', 'page.b4', 'page.b5'];
    for (const t of onA) await publish(a, t, { on: 'a' });
    for (const t of onB) await publish(b, t, { on: 'b' });
    await tap.next((f) => f.includes('"page.a2"'));
    const expected = [...onA, ...onB].sort();
    let got: TopicInfo[] = [];
    await until('A lists all eight page.* topics', async () => {
      got = [];
      let after: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await listing(a, `prefix=page.&limit=3${after ? `&after=${after}` : ''}`);
        expect(page.topics.length).toBeLessThanOrEqual(3);
        got.push(...page.topics);
        if (!page.next) break;
        after = page.next;
      }
      return got.map((t) => t.topic).join() === expected.join();
    }, 3000);
    const a2 = got.find((t) => t.topic === 'page.a2')!;
    expect(a2).toMatchObject({ subscribers: 1, messages: 1 });
    expect(got.find((t) => t.topic === 'page.b3')).toEqual({ topic: 'page.b3', subscribers: 0, messages: 0, rate: 0 });
  });

  it('#sorted asks the broker at most once per CATALOG_TTL_MS, however many listings come', async () => {
    let fetches = 0;
    const broker = { topics: () => (fetches++, a.hub.broker.topics()) };
    const catalog = new TopicCatalog(broker, () => [], 100_000);
    const lists = await Promise.all(Array.from({ length: 20 }, () => catalog.sorted()));
    expect(fetches).toBe(1);
    expect(lists[0]).toEqual([...(await a.hub.broker.topics())].sort());
    await catalog.sorted();
    expect(fetches).toBe(1);
    await new Promise((r) => setTimeout(r, CATALOG_TTL_MS + 50));
    await catalog.sorted();
    expect(fetches).toBe(2);
  });

  it('#sorted is bounded by maxTopics and keeps this node\'s topics the broker has not listed yet', async () => {
    const catalog = new TopicCatalog(a.hub.broker, () => ['!local'], 3); // '!' sorts before every topic
    const list = await catalog.sorted();
    expect(list).toHaveLength(3);
    expect(list[0]).toBe('!local');
  });
});

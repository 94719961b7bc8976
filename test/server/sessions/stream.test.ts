/**
 * A tap's and an SSE stream's welcome (stream.ts), and an app-mode sub's ok, come once every subscription is live: on a node
 * whose Redis round trips take 300 ms (a delay relay), with another node publishing the whole
 * time, every message acknowledged after the client received its welcome arrives, in order, once,
 * and nothing precedes the welcome. A stream whose subscriptions Redis refuses gets an error and
 * close 1011, never a welcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubMessage } from '../../../protocol/wire.ts';
import type { RedisBroker } from '../../../server/broker/redis/broker.ts';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { openSse, type SseStream } from '../../support/sse-client.ts';
import { publishing, range, refuseSubscriptions, startSlowSubscribeNodes, type SlowSubscribeNodes } from '../../support/slow-subscribe.ts';
import { until } from '../../support/until.ts';
import { openSocket, type TestSocket } from '../../support/ws-client.ts';

/** Each way through the relay: a SUBSCRIBE is live 300 ms after it is sent. */
const DELAY_MS = 150;

type Frame = HubMessage | { op: string; [k: string]: unknown };

/** Per topic, the seqs of the messages among `frames`, in arrival order. */
function seqsByTopic(frames: readonly Frame[]): Map<string, number[]> {
  const by = new Map<string, number[]>();
  for (const f of frames) if (!('op' in f)) by.set(f.topic, [...(by.get(f.topic) ?? []), f.seq]);
  return by;
}

/**
 * What a fresh stream must show once publishing stopped: per topic one run of consecutive seqs
 * (in order, once) up to the last published, holding every seq acknowledged after its welcome.
 */
function expectEverythingAfterWelcome(frames: readonly Frame[], run: ReturnType<typeof publishing>, topics: readonly string[]): void {
  const got = seqsByTopic(frames);
  for (const topic of topics) {
    const seqs = got.get(topic) ?? [];
    const owed = run.ackedAfter(topic);
    expect(owed.length, `${topic}: publishes acknowledged after the welcome`).toBeGreaterThan(10);
    expect(seqs, topic).toEqual(range(seqs[0], run.last(topic)));
    expect(seqs[0], `${topic}: the first seq owed`).toBeLessThanOrEqual(owed[0]);
  }
}

let nodes: SlowSubscribeNodes;
beforeAll(async () => {
  nodes = await startSlowSubscribeNodes(DELAY_MS);
});
afterAll(() => nodes?.close());

describe('stream welcome, over a slow Redis', () => {
  const sockets: TestSocket[] = [];
  const streams: SseStream[] = [];
  afterAll(() => {
    for (const s of sockets) s.ws.terminate();
    for (const s of streams) s.close();
  });

  /** A tap on the slow node, its frames parsed; `welcomed` is true once its first frame is in. */
  async function tap(path: string): Promise<{ socket: Promise<TestSocket>; frames: () => Frame[]; welcomed: () => boolean }> {
    let opened: TestSocket | null = null;
    const socket = openSocket(`${nodes.slow.wsUrl}/${path}`).then((s) => (sockets.push(s), (opened = s)));
    const frames = () => (opened?.frames ?? []).map((f) => JSON.parse(f) as Frame);
    return { socket, frames, welcomed: () => (opened?.frames.length ?? 0) > 0 };
  }

  /** Publish to `topics` on the fast node while `open` connects; stop once `welcomed` and well after. */
  async function publishWhile(topics: string[], welcomed: () => boolean, open: () => Promise<unknown>, afterMs = 3 * DELAY_MS): Promise<ReturnType<typeof publishing>> {
    const run = publishing(nodes.fast, topics, welcomed);
    await new Promise((r) => setTimeout(r, 50)); // publishing before the client connects
    await open();
    await until('the welcome', welcomed, 5000);
    await new Promise((r) => setTimeout(r, afterMs)); // and long after it
    await run.stop();
    return run;
  }

  it('a fresh tap of two patterns gets, after its welcome, every message acknowledged after it, in order, once', async () => {
    const topics = ['wa.x', 'wb.t'];
    const t = await tap('wa.*,wb.t');
    const run = await publishWhile(topics, t.welcomed, () => t.socket);
    await until('the tap to reach the last seqs', () => topics.every((topic) => seqsByTopic(t.frames()).get(topic)?.at(-1) === run.last(topic)), 10_000);
    const frames = t.frames();
    expect(frames[0]).toMatchObject({ op: 'welcome', epoch: nodes.slow.hub.epoch, ts: expect.any(Number) });
    expect(frames.slice(1).filter((f) => 'op' in f)).toEqual([]);
    expectEverythingAfterWelcome(frames, run, topics);
  }, 20_000);

  it('a tap on a pattern another tap already holds live: welcome first, then every message from there', async () => {
    const first = await tap('wc.*');
    await until('the first tap welcomed', first.welcomed, 5000);
    const t = await tap('wc.*');
    const run = await publishWhile(['wc.x'], t.welcomed, () => t.socket);
    await until('the tap to reach the last seq', () => seqsByTopic(t.frames()).get('wc.x')?.at(-1) === run.last('wc.x'), 10_000);
    expect(t.frames()[0]).toMatchObject({ op: 'welcome' });
    expectEverythingAfterWelcome(t.frames(), run, ['wc.x']);
  }, 20_000);

  it('a tap with snapshot: welcome, then the snapshot (read after it), stitched to live without gap or duplicate', async () => {
    for (let i = 0; i < 5; i++) await nodes.fast.hub.publish('wd.x', { i });
    const t = await tap('wd.*?snapshot=3');
    const run = await publishWhile(['wd.x'], t.welcomed, () => t.socket, 8 * DELAY_MS); // past the snapshot's two reads
    await until('the tap to reach the last seq', () => seqsByTopic(t.frames()).get('wd.x')?.at(-1) === run.last('wd.x'), 10_000);
    expect(t.frames()[0]).toMatchObject({ op: 'welcome' });
    // The snapshot is the latest 3 when it is read, after the welcome; from it on, every message once.
    const seqs = seqsByTopic(t.frames()).get('wd.x')!;
    expect(seqs).toEqual(range(seqs[0], run.last('wd.x')));
    expect(seqs.length).toBeGreaterThan(3);
  }, 20_000);

  it("an app-mode sub's ok: nothing before it, then every message acknowledged after it, in order, once", async () => {
    const app = await openSocket(nodes.slow.wsUrl, 'hub.v1');
    sockets.push(app);
    await app.nextJson((f) => f.op === 'welcome');
    const frames = () => app.frames.slice(1).map((f) => JSON.parse(f) as Frame); // after the welcome
    const okd = () => frames().some((f) => 'op' in f && f.op === 'ok');
    const topics = ['wh.x', 'wh.y'];
    const run = await publishWhile(topics, okd, async () => app.send({ op: 'sub', id: 7, topic: 'wh.*' }));
    await until('the app to reach the last seqs', () => topics.every((topic) => seqsByTopic(frames()).get(topic)?.at(-1) === run.last(topic)), 10_000);
    const all = frames();
    expect(all[0]).toMatchObject({ op: 'ok', id: 7, epoch: nodes.slow.hub.epoch, ts: expect.any(Number) });
    expect(all.slice(1).filter((f) => 'op' in f)).toEqual([]);
    expectEverythingAfterWelcome(all, run, topics);
  }, 20_000);

  /** The stream's events, as frames: messages, and `{op: <event>}` for the rest. */
  const sseFrames = (s: SseStream): Frame[] => s.events.map((e) => (e.event === 'message' ? (JSON.parse(e.data) as HubMessage) : { op: e.event, ...JSON.parse(e.data) }));

  it('a fresh SSE stream of two patterns: the same, its welcome the first event', async () => {
    const topics = ['we.x', 'wf.t'];
    let stream: SseStream | null = null;
    const welcomed = () => (stream?.events.length ?? 0) > 0;
    const run = await publishWhile(topics, welcomed, async () => streams.push((stream = await openSse(`${nodes.slow.httpUrl}/sse/we.*,wf.t`))));
    const s = stream!;
    await until('the stream to reach the last seqs', () => topics.every((topic) => seqsByTopic(sseFrames(s)).get(topic)?.at(-1) === run.last(topic)), 10_000);
    expect(s.events[0]).toMatchObject({ event: 'welcome', id: expect.stringMatching(/:\d+$/) });
    expect(sseFrames(s).slice(1).filter((f) => 'op' in f)).toEqual([]);
    expectEverythingAfterWelcome(sseFrames(s), run, topics);
  }, 20_000);

  it('an SSE stream resuming with Last-Event-ID: welcome first, then from the id on, once, in order', async () => {
    const first = await openSse(`${nodes.slow.httpUrl}/sse/wg.*`);
    streams.push(first);
    await first.next((e) => e.event === 'welcome');
    const before = publishing(nodes.fast, ['wg.x'], () => false);
    await until('a few messages', () => first.messages().length >= 20, 5000);
    await before.stop();
    const lastId = first.lastEventId!;
    const seen = first.messages().map((m) => m.seq);
    first.close();
    let stream: SseStream | null = null;
    const welcomed = () => (stream?.events.length ?? 0) > 0;
    const run = await publishWhile(['wg.x'], welcomed, async () => streams.push((stream = await openSse(`${nodes.slow.httpUrl}/sse/wg.*`, { 'last-event-id': lastId }))));
    const s = stream!;
    const last = run.last('wg.x');
    await until('the stream to reach the last seq', () => seqsByTopic(sseFrames(s)).get('wg.x')?.at(-1) === last, 10_000);
    expect(s.events[0]).toMatchObject({ event: 'welcome', id: lastId });
    const resumed = seqsByTopic(sseFrames(s)).get('wg.x')!;
    expect(resumed).toEqual(range(seen.at(-1)! + 1, last)); // everything after the id, once
  }, 20_000);
});

describe('a stream whose subscriptions Redis refuses', () => {
  let redis: TestRedis;
  let node: RunningHub;
  beforeAll(async () => {
    redis = await TestRedis.start();
    node = await startHub(testConfig({ redisUrl: redis.url }));
  });
  afterAll(async () => {
    await node?.close();
    await redis?.stop();
  });

  it('a tap gets an unavailable error, then close 1011; no welcome; a later tap works', async () => {
    const allow = await refuseSubscriptions(redis);
    const t = await openSocket(`${node.wsUrl}/wr.*`);
    const closed = await t.closed;
    await allow();
    expect(closed).toEqual({ code: 1011, reason: 'stream start failed' });
    expect(t.frames.map((f) => JSON.parse(f))).toEqual([{ op: 'error', code: 'unavailable', message: expect.stringMatching(/^could not start the stream \(.*wr\.\*.*\); reconnect$/) }]);
    expect(node.hub.stats().subscriptions).toBe(0); // nothing left behind
    const again = await openSocket(`${node.wsUrl}/wr.*`);
    expect(JSON.parse(await again.next())).toMatchObject({ op: 'welcome' });
    again.close();
    // Gone upstream too, before the next test refuses subscriptions (Redis would drop a connection still holding it).
    await until('the upstream subscription gone', () => (node.hub.broker as RedisBroker).upstreamSubscriptions().length === 0, 2000);
  });

  it('an SSE stream gets a hub-error event, then a close event 1011, and ends; no welcome', async () => {
    const allow = await refuseSubscriptions(redis);
    const s = await openSse(`${node.httpUrl}/sse/ws.*,ws.t`);
    await s.ended;
    await allow();
    expect(s.events.map((e) => e.event)).toEqual(['hub-error', 'close']);
    expect(JSON.parse(s.events[0].data)).toMatchObject({ op: 'error', code: 'unavailable' });
    expect(JSON.parse(s.events[1].data)).toEqual({ code: 1011, reason: 'stream start failed' });
    await until('the stream detached', () => node.hub.stats().connections === 0, 2000);
    expect(node.hub.stats().subscriptions).toBe(0);
  });
});

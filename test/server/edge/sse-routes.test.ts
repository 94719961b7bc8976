/**
 * `GET /sse/<patterns>` against a real hub: the stream's head, retry, welcome and ids; the same
 * messages in the same order as a WebSocket tap; Last-Event-ID resume merged in pos order and the
 * other-epoch reset; heartbeat comments; overflow policies for slow readers; refusals with JSON
 * bodies; drain (1012) and credential expiry (4001) as `event: close`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sign } from 'hono/jwt';
import { testConfig, type HubConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSse, type SseEvent, type SseStream } from '../../support/sse-client.ts';
import { openTap, sleep, type TapSocket } from '../../support/ws-client.ts';
import { until } from '../../support/until.ts';

const SECRET = 'a-very-long-jwt-secret-for-sse-tests-0123456';
const hubs: RunningHub[] = [];
const streams: SseStream[] = [];
const taps: TapSocket[] = [];
let hub: RunningHub;

async function start(overrides: Partial<HubConfig> = {}): Promise<RunningHub> {
  const h = await startHub(testConfig({ publishKey: 'sse-key', jwtSecret: SECRET, ...overrides }));
  hubs.push(h);
  return h;
}

async function sse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const s = await openSse(url, headers);
  streams.push(s);
  return s;
}

const welcomeOf = (s: SseStream) => s.next((e) => e.event === 'welcome');
const closeOf = async (s: SseStream) => JSON.parse((await s.next((e) => e.event === 'close', 8000)).data) as { code: number; reason: string };
const posOf = (e: SseEvent) => Number(e.id!.split(':')[1]);

beforeAll(async () => {
  hub = await start({ overflowPolicies: [{ pattern: 'slow.c.>', policy: 'conflate' }, { pattern: 'slow.d.>', policy: 'disconnect' }], outboxLimitBytes: 64 * 1024 });
});
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
  for (const t of taps.splice(0)) t.ws.terminate();
});
afterAll(async () => {
  await Promise.all(hubs.map((h) => h.close()));
});

describe('GET /sse/<patterns>', () => {
  it('streams retry, a welcome whose id is the start position, then every message once with <epoch>:<pos> ids, like a WebSocket tap', async () => {
    await hub.hub.publish('same.before', { i: -1 });
    const stream = await sse(`${hub.httpUrl}/sse/same.*`);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers['cache-control']).toBe('no-cache, no-transform');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    expect(stream.headers['transfer-encoding']).toBe('chunked');
    const welcome = await welcomeOf(stream);
    expect(stream.retry).toBe(1000);
    const epoch = hub.hub.epoch;
    expect(JSON.parse(welcome.data)).toMatchObject({ op: 'welcome', v: 1, epoch, node: hub.hub.nodeId, role: hub.hub.config.anonymousRole });
    expect(welcome.id).toBe(`${epoch}:${await hub.hub.broker.position()}`);
    const tap = await openTap(`${hub.wsUrl}/same.*`);
    taps.push(tap);
    const sent = [];
    for (let i = 0; i < 30; i++) sent.push(await hub.hub.publish(`same.${'abc'[i % 3]}`, { i }));
    await until('both got 30', () => stream.messages().length >= 30 && tap.frames.length >= 30);
    const viaSse = stream.events.filter((e) => e.event === 'message');
    expect(viaSse.map((e) => e.data)).toEqual(tap.frames.slice(0, 30)); // the same bytes, in the same order
    expect(viaSse.map((e) => e.id)).toEqual(sent.map((env) => `${epoch}:${env.pos}`));
    expect(viaSse.map(posOf).every((p, i, all) => i === 0 || p > all[i - 1])).toBe(true);
  });

  it('resumes from Last-Event-ID across several topics: what was missed, merged in pos order, then live; nothing twice', async () => {
    const first = await sse(`${hub.httpUrl}/sse/res.*`);
    await welcomeOf(first);
    for (let i = 0; i < 6; i++) await hub.hub.publish(`res.${'xyz'[i % 3]}`, { i });
    await until('6 messages', () => first.messages().length === 6);
    const lastId = first.lastEventId!;
    first.close();
    const missed = [];
    for (let i = 6; i < 15; i++) missed.push(await hub.hub.publish(`res.${'xyz'[i % 3]}`, { i }));
    const second = await sse(`${hub.httpUrl}/sse/res.*`, { 'Last-Event-ID': lastId });
    expect((await welcomeOf(second)).id).toBe(lastId); // resumes where the last one left off
    for (let i = 15; i < 18; i++) missed.push(await hub.hub.publish(`res.${'xyz'[i % 3]}`, { i }));
    await until('12 messages', () => second.messages().length >= 12);
    await sleep(50);
    expect(second.messages<{ data: { i: number } }>().map((m) => m.data.i)).toEqual(Array.from({ length: 12 }, (_, k) => k + 6));
    expect(second.events.filter((e) => e.event === 'message').map((e) => e.id)).toEqual(missed.map((e) => `${hub.hub.epoch}:${e.pos}`));
    // The query parameter means the same, for clients that cannot set headers.
    const third = await sse(`${hub.httpUrl}/sse/res.*?lastEventId=${encodeURIComponent(lastId)}`);
    await until('12 again', () => third.messages().length >= 12);
  });

  it('answers a Last-Event-ID of another epoch with a reset per topic, then live (and the snapshot asked for)', async () => {
    await hub.hub.publish('ep.a', { i: 1 });
    await hub.hub.publish('ep.b', { i: 2 });
    const stream = await sse(`${hub.httpUrl}/sse/ep.*?snapshot=1`, { 'Last-Event-ID': 'OtherEpoch:12' });
    const welcome = await welcomeOf(stream);
    expect(welcome.id).toBe(`${hub.hub.epoch}:${await hub.hub.broker.position()}`);
    const resets = [await stream.next((e) => e.event === 'reset'), await stream.next((e) => e.event === 'reset')].map((e) => JSON.parse(e.data));
    expect(resets.map((r) => r.topic).sort()).toEqual(['ep.a', 'ep.b']);
    for (const r of resets) expect(r).toMatchObject({ op: 'reset', epoch: hub.hub.epoch, reason: 'epoch' });
    await until('the snapshot', () => stream.messages().length === 2);
    await hub.hub.publish('ep.a', { i: 3 });
    await until('live', () => stream.messages().length === 3);
    // Snapshot messages are older than the welcome: sent without ids, so ids never go backwards.
    const ids = stream.events.filter((e) => e.event === 'message').map((e) => e.id);
    expect(ids.slice(0, 2)).toEqual([undefined, undefined]);
    expect(ids[2]).toMatch(new RegExp(`^${hub.hub.epoch}:\\d+$`));
  });

  it('sends a heartbeat comment at HEARTBEAT_MS on an idle stream, which outlives the HTTP request timeouts', async () => {
    const h = await start({ heartbeatMs: 200, headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const stream = await sse(`${h.httpUrl}/sse/idle.topic`);
    await welcomeOf(stream);
    await until('a heartbeat', () => stream.comments.includes('hb'), 3000);
    await sleep(1500); // past REQUEST_TIMEOUT_MS: Node's request timers must not end the stream
    const beats = stream.comments.length;
    await until('more heartbeats', () => stream.comments.length > beats, 3000);
    await h.hub.publish('idle.topic', { late: true });
    expect(JSON.parse((await stream.next((e) => e.event === 'message')).data)).toMatchObject({ data: { late: true } });
  });

  it('a slow reader of a conflate topic gets the latest value per topic; of a disconnect topic, event: close 1008', async () => {
    const big = 'x'.repeat(16_000);
    const conflating = await sse(`${hub.httpUrl}/sse/slow.c.*`);
    await welcomeOf(conflating);
    conflating.pause();
    const conflated = hub.hub.stats().conflated;
    let n = 0;
    // Until the socket and the kernel's buffers are full and the outbox conflates (a few MB).
    for (; n < 5000 && hub.hub.stats().conflated === conflated; n++) await hub.hub.publish(`slow.c.${n % 2}`, { i: n, big });
    for (let k = 0; k < 10; k++, n++) await hub.hub.publish(`slow.c.${n % 2}`, { i: n, big });
    expect(hub.hub.stats().conflated).toBeGreaterThan(conflated);
    conflating.resume();
    await until('the latest of both topics', () => {
      const got = conflating.messages<{ topic: string; data: { i: number } }>();
      return got.some((m) => m.data.i === n - 1) && got.some((m) => m.data.i === n - 2);
    });
    expect(conflating.messages().length).toBeLessThan(n); // conflated, not queued without bound
    // Conflated messages went out of pos order: ids still never go backwards.
    const ids = conflating.events.filter((e) => e.id !== undefined && e.event === 'message').map(posOf);
    expect(ids.every((p, i) => i === 0 || p > ids[i - 1])).toBe(true);

    const dropping = await sse(`${hub.httpUrl}/sse/slow.d.*`);
    await welcomeOf(dropping);
    dropping.pause();
    const closes = hub.hub.stats().slowConsumerCloses;
    for (let i = 0; i < 5000 && hub.hub.stats().slowConsumerCloses === closes; i++) await hub.hub.publish('slow.d.x', { i, big });
    expect(hub.hub.stats().slowConsumerCloses).toBe(closes + 1);
    dropping.resume();
    expect(await closeOf(dropping)).toEqual({ code: 1008, reason: 'slow consumer' });
    expect((await dropping.ended).complete).toBe(true); // the last chunk came: a clean end
  });

  it('refuses bad patterns (400), foreign origins (403), bad tokens (401) and the address over its slots (429), with JSON bodies', async () => {
    const bad = await sse(`${hub.httpUrl}/sse/a..b`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'bad_topic' } });
    const badId = await sse(`${hub.httpUrl}/sse/a.b`, { 'Last-Event-ID': 'nonsense' });
    expect(badId.status).toBe(400);
    expect(badId.body).toMatchObject({ error: { code: 'bad_request' } });
    const origin = await sse(`${hub.httpUrl}/sse/a.b`, { origin: 'http://evil.example' });
    expect(origin.status).toBe(403);
    expect(origin.body).toMatchObject({ error: { code: 'forbidden', message: expect.stringContaining('ALLOWED_ORIGINS') } });
    const token = await sse(`${hub.httpUrl}/sse/a.b?token=wrong`);
    expect(token.status).toBe(401);
    expect(token.body).toMatchObject({ error: { code: 'unauthorized' } });

    const limited = await start({ maxConnectionsPerIp: 2 });
    const held = [await sse(`${limited.httpUrl}/sse/a.b`), await sse(`${limited.httpUrl}/sse/a.c`)];
    for (const s of held) await welcomeOf(s);
    const refused = await sse(`${limited.httpUrl}/sse/a.d`);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: { code: 'too_many_connections', message: expect.stringContaining('MAX_CONNECTIONS_PER_IP') } });
    // SSE and WebSockets share the slots; a closed stream gives its slot back.
    held[0].close();
    await until('the slot is back', () => limited.hub.connections.size === 1);
    const again = await sse(`${limited.httpUrl}/sse/a.e`);
    expect(again.status).toBe(200);
  });

  it('is listed by /api/connections as mode sse, and closed by an admin', async () => {
    const admin = await sign({ role: 'admin', sub: 'ops', exp: Math.round(Date.now() / 1000) + 600 }, SECRET, 'HS256');
    const stream = await sse(`${hub.httpUrl}/sse/listed.*`);
    await welcomeOf(stream);
    const res = await fetch(`${hub.httpUrl}/api/connections`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const { connections } = (await res.json()) as { connections: { id: string; mode: string; subscriptions: string[] }[] };
    const mine = connections.find((c) => c.mode === 'sse' && c.subscriptions.includes('listed.*'))!;
    expect(mine).toBeDefined();
    await fetch(`${hub.httpUrl}/api/connections/${mine.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
    expect(await closeOf(stream)).toEqual({ code: 1008, reason: 'disconnected by an admin' });
  });

  it('a draining node ends its streams with event: close 1012 and refuses new ones with 503', async () => {
    const h = await start({ drainMs: 100 });
    const stream = await sse(`${h.httpUrl}/sse/drain.*`);
    await welcomeOf(stream);
    const drained = h.drain();
    expect(await closeOf(stream)).toEqual({ code: 1012, reason: 'node draining; reconnect' });
    await drained;
  });

  it('warns before the credential expires and closes the stream 4001 at expiry', async () => {
    const h = await start({ jwtExpiryWarningMs: 500 });
    const token = await sign({ role: 'viewer', sub: 'sse-exp', exp: Date.now() / 1000 + 1.2 }, SECRET, 'HS256');
    const stream = await sse(`${h.httpUrl}/sse/exp.*?token=${token}`);
    await welcomeOf(stream);
    const warning = JSON.parse((await stream.next((e) => e.event === 'expiring', 3000)).data);
    expect(warning).toMatchObject({ op: 'expiring' });
    const error = JSON.parse((await stream.next((e) => e.event === 'hub-error', 3000)).data);
    expect(error).toMatchObject({ op: 'error', code: 'token_expired' });
    expect(await closeOf(stream)).toEqual({ code: 4001, reason: 'credential expired' });
  });
});

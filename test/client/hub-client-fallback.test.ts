/**
 * HubClient's SSE + HTTP fallback against real hubs on port 0, reached through a real HTTP proxy
 * (a Node forwarder started by the test) that refuses WebSocket upgrades, or lets them hang, the
 * way a corporate proxy that strips `Upgrade` does; then lets them through to see the client
 * switch back. Every message must arrive exactly once across each switch and a hub restart.
 */
import http from 'node:http';
import { sign } from 'hono/jwt';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type HubClientOptions, type LiveTransport, type WebSocketLike } from '../../client/hub-client.ts';
import { HubError } from '../../protocol/errors.ts';
import type { HubMessage, ResetFrame, WelcomeFrame } from '../../protocol/wire.ts';
import { testConfig, type HubConfig } from '../../server/config.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { TestRedis } from '../support/redis-server.ts';
import { sleep, until } from '../support/until.ts';
import { openSocket } from '../support/ws-client.ts';

const KEY = 'fallback-test-key';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function hub(overrides: Partial<HubConfig> = {}): Promise<RunningHub> {
  const running = await startHub(testConfig({ publishKey: KEY, ...overrides }));
  cleanups.push(() => running.close());
  return running;
}

type UpgradePolicy = 'refuse' | 'hang' | 'pass';

interface TestProxy {
  /** `ws://` URL of the proxy's `/ws`: what the client is given. */
  wsUrl: string;
  /** What the proxy does with a WebSocket upgrade; HTTP requests are always forwarded. */
  upgrades: UpgradePolicy;
  /** The hub port requests are forwarded to. */
  target: number;
}

/** A forwarding HTTP proxy (streams responses, so SSE passes) with a switchable upgrade policy. */
async function proxy(target: number, upgrades: UpgradePolicy): Promise<TestProxy> {
  const sockets = new Set<net.Socket>();
  const state = { upgrades, target, wsUrl: '' };
  const server = http.createServer((req, res) => {
    const upstream = http.request({ host: '127.0.0.1', port: state.target, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    res.on('close', () => upstream.destroy()); // the client left: so does the upstream stream
    req.pipe(upstream);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (state.upgrades === 'refuse') return void socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    if (state.upgrades === 'hang') return; // never answered: the client's open timeout must fire
    const upstream = net.connect(state.target, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.wsUrl = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/ws`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return state;
}

interface Harness {
  client: HubClient;
  transports: LiveTransport[];
  welcomes: WelcomeFrame[];
}

function harness(url: string, options: Partial<HubClientOptions> = {}): Harness {
  const transports: LiveTransport[] = [];
  const welcomes: WelcomeFrame[] = [];
  const c = new HubClient({
    url,
    token: KEY,
    minBackoffMs: 20,
    maxBackoffMs: 100,
    openTimeoutMs: 2000,
    connect: (u, p) => new WebSocket(u, p) as unknown as WebSocketLike,
    onTransport: (t) => transports.push(t),
    onWelcome: (w) => welcomes.push(w),
    ...options,
  });
  cleanups.push(() => c.close());
  return { client: c, transports, welcomes };
}

const sseConnections = (running: RunningHub) => [...running.hub.connections].filter((c) => c.mode === 'sse');
const appConnections = (running: RunningHub) => [...running.hub.connections].filter((c) => c.mode === 'app');
const seqsOf = (got: HubMessage[], topic: string) => got.filter((m) => m.topic === topic).map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('HubClient fallback to SSE + HTTP', () => {
  it('falls back when upgrades are refused: snapshot, live messages and HTTP publishes, then back to WS without loss or duplicate', async () => {
    const running = await hub();
    for (let i = 1; i <= 3; i++) await running.hub.publish('fb.a', { i });
    const via = await proxy(running.port, 'refuse');
    const { client: c, transports, welcomes } = harness(via.wsUrl);
    const got: HubMessage[] = [];
    c.subscribe('fb.*', (m) => got.push(m), { snapshot: 10 });
    await until('the client on SSE', () => c.transport === 'sse' && c.status === 'open', 5000);
    expect(transports).toEqual(['sse']);
    expect(welcomes[0]).toMatchObject({ op: 'welcome', epoch: running.hub.epoch, role: 'publisher' });
    expect(sseConnections(running)).toHaveLength(1);
    expect(appConnections(running)).toHaveLength(0);
    await until('the snapshot', () => got.length === 3, 3000);

    // Publishing over HTTP: the same result as over the WebSocket, refusals as HubErrors.
    expect(await c.publish('fb.a', { i: 4 })).toMatchObject({ seq: 4, ts: expect.any(Number) });
    expect(await c.publish('fb.b', { i: 1 })).toMatchObject({ seq: 1 });
    const refused = await c.publish('$sys.stats', {}).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(HubError);
    expect(refused).toMatchObject({ code: 'forbidden' });
    expect((await c.history('fb.a', { since: 2 })).map((m) => m.seq)).toEqual([3, 4]);
    await until('the HTTP publishes back over SSE', () => got.length === 5, 3000);

    // Upgrades pass again while messages keep coming: the background retry switches to WS.
    via.upgrades = 'pass';
    let n = 1;
    while (c.transport !== 'ws') {
      await running.hub.publish('fb.b', { i: ++n });
      await sleep(2);
      if (n > 5000) throw new Error('the client never went back to the WebSocket');
    }
    for (let k = 0; k < 50; k++) await running.hub.publish('fb.b', { i: ++n });
    expect((await c.publish('fb.a', { i: 5 })).seq).toBe(5); // over the WebSocket now
    await until('every fb.b message', () => seqsOf(got, 'fb.b').at(-1) === n, 5000);
    await until('fb.a 5', () => seqsOf(got, 'fb.a').at(-1) === 5, 3000);
    expect(seqsOf(got, 'fb.a')).toEqual(range(1, 5));
    expect(seqsOf(got, 'fb.b')).toEqual(range(1, n));
    expect(transports).toEqual(['sse', 'ws']);
    await until('the SSE stream to end at the hub', () => sseConnections(running).length === 0, 3000);
    expect(appConnections(running)).toHaveLength(1);
  });

  it('falls back when the upgrade never completes (open timeout), and goes on retrying the WebSocket', async () => {
    const running = await hub();
    const via = await proxy(running.port, 'hang');
    const { client: c } = harness(via.wsUrl, { openTimeoutMs: 300 });
    const got: HubMessage[] = [];
    c.subscribe('hang.*', (m) => got.push(m));
    const started = Date.now();
    await until('the client on SSE', () => c.transport === 'sse', 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await until('the hub to hold the stream', () => sseConnections(running).length === 1, 3000);
    await running.hub.publish('hang.a', { n: 1 });
    await until('a live message over SSE', () => got.length === 1, 3000);
    via.upgrades = 'pass';
    await until('the client back on WS', () => c.transport === 'ws', 5000);
    await running.hub.publish('hang.a', { n: 2 });
    await until('a live message over WS', () => got.length === 2, 3000);
    expect(seqsOf(got, 'hang.a')).toEqual([1, 2]);
  });

  for (const policy of ['hang', 'refuse'] as const) {
    it(`once a WebSocket has worked, reconnects whose upgrade ${policy === 'hang' ? 'is slow' : 'fails'} stay on the WebSocket for fallbackGraceMs, then fall back`, async () => {
      const running = await hub();
      const via = await proxy(running.port, 'pass');
      const { client: c, transports } = harness(via.wsUrl, { openTimeoutMs: 300, fallbackGraceMs: 1500 });
      const got: HubMessage[] = [];
      c.subscribe('slow.*', (m) => got.push(m));
      await until('the client on WS', () => c.transport === 'ws', 3000);
      await until('the hub to hold slow.*', () => appConnections(running)[0]?.subs.has('slow.*'), 3000); // the welcome comes before the sub
      await running.hub.publish('slow.a', { n: 1 });
      await until('a live message over WS', () => got.length === 1, 3000);
      via.upgrades = policy; // a restarting or overloaded hub, as a client whose upgrades passed sees it
      const dropped = Date.now();
      for (const conn of appConnections(running)) conn.close(1012, 'test: reconnect');
      await sleep(1000); // past three open timeouts, within the grace
      expect(transports).toEqual(['ws', 'offline']);
      expect(sseConnections(running)).toHaveLength(0);
      await running.hub.publish('slow.a', { n: 2 });
      // Past the grace the proxy is believed: SSE, resuming where it was.
      await until('the client on SSE after the grace', () => c.transport === 'sse', 5000);
      expect(Date.now() - dropped).toBeGreaterThanOrEqual(1500);
      await until('the missed message over SSE', () => got.length === 2, 3000);
      expect(seqsOf(got, 'slow.a')).toEqual([1, 2]);
    });
  }

  it('reopens the stream when subscriptions change on SSE, resuming: nothing lost or repeated', async () => {
    const running = await hub();
    const via = await proxy(running.port, 'refuse');
    const { client: c } = harness(via.wsUrl);
    const a: HubMessage[] = [];
    const b: HubMessage[] = [];
    const stopA = c.subscribe('sub.a', (m) => a.push(m));
    await until('the client on SSE', () => c.transport === 'sse' && sseConnections(running).length === 1, 5000);
    await until('the hub to hold sub.a', () => sseConnections(running)[0]?.subs.has('sub.a'), 3000);
    for (let i = 1; i <= 5; i++) await running.hub.publish('sub.a', { i });
    await until('sub.a 1..5', () => a.length === 5, 3000);

    // Added while messages flow: sub.a goes on from its position, sub.b starts.
    const publishing = (async () => {
      for (let i = 6; i <= 60; i++) {
        await running.hub.publish('sub.a', { i });
        await running.hub.publish('sub.b', { i });
        await sleep(1);
      }
    })();
    await sleep(10);
    c.subscribe('sub.b', (m) => b.push(m));
    await publishing;
    await until('sub.a to 60', () => a.at(-1)?.seq === 60, 5000);
    expect(seqsOf(a, 'sub.a')).toEqual(range(1, 60));
    await until('sub.b to its last', () => b.at(-1)?.seq === 55, 5000);
    const bSeqs = seqsOf(b, 'sub.b');
    expect(bSeqs).toEqual(range(bSeqs[0], 55)); // from where it joined, without a hole
    await until('one stream with both', () => sseConnections(running).length === 1 && sseConnections(running)[0].subs.size === 2, 3000);

    stopA();
    await until('the stream reopened without sub.a', () => sseConnections(running).length === 1 && !sseConnections(running)[0].subs.has('sub.a'), 3000);
    await running.hub.publish('sub.a', { i: 61 });
    await running.hub.publish('sub.b', { i: 61 });
    await until('sub.b 56', () => b.at(-1)?.seq === 56, 3000);
    expect(a).toHaveLength(60);
    expect(seqsOf(b, 'sub.b')).toEqual(range(bSeqs[0], 56));

    // A pattern the hub would refuse gets nothing, and takes nothing from the others.
    c.subscribe('bad..pattern', () => {});
    await sleep(50);
    await running.hub.publish('sub.b', { i: 62 });
    await until('sub.b 57', () => b.at(-1)?.seq === 57, 3000);
    expect(c.transport).toBe('sse');
    expect(seqsOf(b, 'sub.b')).toEqual(range(bSeqs[0], 57));
  });

  it('resumes on SSE across a hub restart (Redis): every message once, also those published while it was down', async () => {
    const redis = await TestRedis.start();
    cleanups.push(() => redis.stop());
    const first = await hub({ redisUrl: redis.url });
    const via = await proxy(first.port, 'refuse');
    const { client: c, welcomes } = harness(via.wsUrl);
    const got: HubMessage[] = [];
    const resets: ResetFrame[] = [];
    c.subscribe('rr.*', (m) => got.push(m), { onReset: (r) => resets.push(r) });
    await until('the client on SSE', () => c.transport === 'sse' && sseConnections(first).length === 1, 5000);
    await until('the hub to hold rr.*', () => sseConnections(first)[0]?.subs.has('rr.*'), 3000);
    for (let i = 1; i <= 5; i++) await first.hub.publish('rr.a', { i });
    await until('rr.a 1..5', () => got.length === 5, 3000);

    await first.close();
    await until('the client to see the drop', () => c.transport === 'offline', 3000);
    const second = await hub({ redisUrl: redis.url });
    expect(second.hub.epoch).toBe(first.hub.epoch); // Redis kept it
    for (let i = 6; i <= 10; i++) await second.hub.publish('rr.a', { i });
    await second.hub.publish('rr.new', { first: true }); // a topic it never saw, while it was away
    via.target = second.port;
    await until('the client back on SSE', () => c.transport === 'sse' && c.status === 'open', 5000);
    for (let i = 11; i <= 15; i++) await second.hub.publish('rr.a', { i });
    await until('rr.a 15', () => seqsOf(got, 'rr.a').at(-1) === 15, 5000);
    await until('rr.new', () => seqsOf(got, 'rr.new').length === 1, 3000);
    expect(seqsOf(got, 'rr.a')).toEqual(range(1, 15));
    expect(seqsOf(got, 'rr.new')).toEqual([1]);
    expect(resets).toEqual([]);
    expect(welcomes.length).toBeGreaterThanOrEqual(2);
  });

  it('after a restart that lost history (memory, new epoch) on SSE: a reset, then the new hub\'s messages', async () => {
    const first = await hub();
    const via = await proxy(first.port, 'refuse');
    const { client: c } = harness(via.wsUrl);
    const got: HubMessage[] = [];
    const resets: ResetFrame[] = [];
    c.subscribe('mr.*', (m) => got.push(m), { onReset: (r) => resets.push(r), snapshot: 5 });
    await until('the client on SSE', () => c.transport === 'sse' && sseConnections(first).length === 1, 5000);
    await until('the hub to hold mr.*', () => sseConnections(first)[0]?.subs.has('mr.*'), 3000);
    for (let i = 1; i <= 3; i++) await first.hub.publish('mr.a', { before: i });
    await until('the messages before the restart', () => got.length === 3, 3000);
    await first.close();
    const second = await hub({ port: first.port });
    await second.hub.publish('mr.a', { after: 1 });
    await until('the reset', () => resets.length === 1, 5000);
    expect(resets[0]).toEqual({ op: 'reset', topic: 'mr.a', epoch: second.hub.epoch, reason: 'epoch' });
    await until('the new mr.a message', () => got.length === 4, 3000);
    expect((await c.publish('mr.a', { after: 2 })).seq).toBe(2);
    await until('the live one', () => got.length === 5, 3000);
    expect(got.map((m) => [m.seq, m.data])).toEqual([
      [1, { before: 1 }],
      [2, { before: 2 }],
      [3, { before: 3 }],
      [1, { after: 1 }],
      [2, { after: 2 }],
    ]);
  });

  it('chats over HTTP on SSE under the chat rules: a line-mode client sees the line, and a taken nick is refused', async () => {
    const running = await hub();
    const via = await proxy(running.port, 'refuse');
    const { client: c } = harness(via.wsUrl, { token: undefined }); // a browser: anonymous operator
    const chat: HubMessage[] = [];
    c.subscribe('chat', (m) => chat.push(m));
    await until('the client on SSE', () => c.transport === 'sse', 5000);
    const line = await openSocket(running.wsUrl);
    cleanups.push(() => line.close());
    await line.next((f) => f.startsWith('* welcome'));
    line.send('/nick liner');
    await line.next((f) => f.includes('you are now liner'));

    await c.publish('chat', { nick: 'sse-op', text: 'hello over http' });
    expect(await line.next((f) => f.includes('hello over http'))).toBe('sse-op: hello over http');
    line.send('hello back');
    await until('the line client\'s line over SSE', () => chat.some((m) => (m.data as { text: string }).text === 'hello back'), 3000);
    await expect(c.publish('chat', { nick: 'liner', text: 'impostor' })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(c.publish('chat', { nick: 'sse-op', text: 'bad\u001b[2J' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(c.publish('fb.a', 1)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('refreshes an expiring credential on SSE with getToken: the stream reopens with the new token, nothing lost, never closed', async () => {
    const secret = 'a-very-long-jwt-secret-for-fallback-tests-0123';
    const token = () => sign({ role: 'viewer', sub: 'fallback-test', exp: Date.now() / 1000 + 1.5 }, secret, 'HS256');
    const running = await hub({ jwtSecret: secret, jwtExpiryWarningMs: 1000 });
    const via = await proxy(running.port, 'refuse');
    const statuses: string[] = [];
    let issued = 0;
    const { client: c } = harness(via.wsUrl, {
      token: await token(),
      onStatus: (s) => statuses.push(s),
      getToken: () => {
        issued++;
        return token();
      },
    });
    const got: HubMessage[] = [];
    c.subscribe('tok.feed', (m) => got.push(m));
    await until('the client on SSE', () => c.transport === 'sse' && sseConnections(running)[0]?.subs.has('tok.feed'), 5000);
    let n = 0;
    const end = performance.now() + 3500; // past two lifetimes of 1.5 s
    while (performance.now() < end) {
      await running.hub.publish('tok.feed', { n: ++n });
      await sleep(50);
    }
    await until('every message', () => got.length === n, 3000);
    expect(issued).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s === 'closed')).toEqual([]); // reopened in place: never offline
    expect(seqsOf(got, 'tok.feed')).toEqual(range(1, n));
  });

  it('with fallback: false it never leaves the WebSocket', async () => {
    const running = await hub();
    const via = await proxy(running.port, 'refuse');
    const { client: c, transports } = harness(via.wsUrl, { fallback: false });
    c.subscribe('nf.*', () => {});
    await sleep(400);
    expect(c.status).not.toBe('open');
    expect(transports).toEqual([]);
    expect(sseConnections(running)).toHaveLength(0);
  });
});

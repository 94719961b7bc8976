/**
 * Several tickhub nodes on one Redis (a private redis-server this file starts): what a client
 * sees does not depend on the node it reaches, also when a node is killed -9, when the pub/sub
 * connection drops, and when Redis restarts and loses everything (docs/operations.md).
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RedisBroker } from '../../../../server/broker/redis/broker.ts';
import { ConfigError, loadConfig, testConfig, type RetentionRule } from '../../../../server/config.ts';
import { HubClient, type WebSocketLike } from '../../../../client/hub-client.ts';
import type { HubMessage } from '../../../../protocol/wire.ts';
import { startHub, type RunningHub } from '../../../../server/server.ts';
import { spawnHub } from '../../../support/hub-process.ts';
import { TestRedis } from '../../../support/redis-server.ts';
import { DATA_SPELLINGS, dataTexts, openSocket, openTap, sleep, type TestSocket } from '../../../support/ws-client.ts';
import { until } from '../../../support/until.ts';

const KEY = 'cluster-publish-key';
const retention: RetentionRule[] = [
  { pattern: 'kill.>', maxMessages: 100_000, maxAgeSeconds: 3600 },
  { pattern: 'gap.>', maxMessages: 100_000, maxAgeSeconds: 3600 },
  { pattern: '>', maxMessages: 1000, maxAgeSeconds: 3600 },
];
const HISTORY_ENV = 'kill.>=100000/3600,gap.>=100000/3600,>=1000/3600';

let redis: TestRedis;
let a: RunningHub;
let b: RunningHub;
const sockets: TestSocket[] = [];
const children: ChildProcess[] = [];
const node = (redisUrl: string) => startHub(testConfig({ publishKey: KEY, retention, chatBacklog: 3, redisUrl }));

beforeAll(async () => {
  redis = await TestRedis.start();
  [a, b] = await Promise.all([node(redis.url), node(redis.url)]);
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([a?.close(), b?.close()]);
  await redis?.stop();
});

const range = (n: number, from = 1) => Array.from({ length: n }, (_, k) => k + from);

/** A tickhub node as a child process (so the test can kill -9 it). */
const spawnNode = (redisUrl: string) => spawnHub({ REDIS_URL: redisUrl, HUB_PUBLISH_KEY: KEY, HISTORY: HISTORY_ENV }, children);

interface Event {
  kind: 'msg' | 'reset';
  topic: string;
  seq?: number;
  epoch?: string;
  reason?: string;
}

/**
 * A raw app-mode client that resumes by the protocol (since + sinceTs + epoch) on whatever URL
 * `target()` names after every close, and records every message and reset it gets.
 */
function resumingClient(target: () => string, pattern: string) {
  const events: Event[] = [];
  const last = new Map<string, number>();
  const closes: number[] = [];
  let epoch = '';
  let sinceTs = 0;
  let stopped = false;
  let ws: WebSocket | null = null;
  let ready = false;
  const connect = () => {
    const socket = new WebSocket(target(), ['hub.v1']);
    ws = socket;
    socket.on('message', (raw) => {
      const f = JSON.parse(String(raw));
      if (f.op === 'welcome') {
        const resume = sinceTs ? { since: Object.fromEntries(last), sinceTs, epoch } : {};
        if (epoch && f.epoch !== epoch) sinceTs = 0; // the resets that follow start it over
        epoch = f.epoch;
        socket.send(JSON.stringify({ op: 'sub', id: 1, topic: pattern, ...resume }));
      } else if (f.op === 'ok') {
        sinceTs ||= f.ts;
        ready = true;
      } else if (f.op === 'reset') {
        epoch = f.epoch; // a reset names the epoch that follows, even on a connection welcomed in the old one
        events.push({ kind: 'reset', topic: f.topic, epoch: f.epoch, reason: f.reason });
        last.delete(f.topic);
      } else if (!f.op) {
        events.push({ kind: 'msg', topic: f.topic, seq: f.seq, epoch });
        last.set(f.topic, f.seq);
      } else {
        throw new Error(`unexpected ${String(raw)}`);
      }
    });
    socket.on('error', () => {});
    socket.on('close', (code) => {
      closes.push(code);
      if (!stopped) setTimeout(connect, 20);
    });
  };
  connect();
  return {
    events,
    last,
    closes,
    get ready() {
      return ready;
    },
    seqs: (topic: string) => events.filter((e) => e.kind === 'msg' && e.topic === topic).map((e) => e.seq!),
    resets: () => events.filter((e) => e.kind === 'reset'),
    stop() {
      stopped = true;
      ws?.terminate();
    },
  };
}

describe('tickhub nodes on one Redis', () => {
  it('a tap on node A gets what is published on node B (hub, HTTP), in order, once', async () => {
    const tap = await openTap(`${a.wsUrl}/x.one`);
    sockets.push(tap);
    await sleep(50);
    for (let i = 1; i <= 50; i++) await b.hub.publish('x.one', { i });
    const res = await fetch(`${b.httpUrl}/api/publish/x.one`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{"i":51}' });
    expect(await res.json()).toMatchObject({ topic: 'x.one', seq: 51 });
    await tap.next((f) => f.includes('"seq":51'));
    expect(tap.frames.map((f) => JSON.parse(f).seq)).toEqual(range(51));
    expect(JSON.parse(tap.frames[50]).data).toEqual({ i: 51 });
  });

  it('delivers data as the publisher wrote it across nodes, big integers exact, whichever publish form carried it', async () => {
    const tap = await openTap(`${a.wsUrl}/v.*`);
    sockets.push(tap);
    const app = await openSocket(`${b.wsUrl}?token=${KEY}`, 'hub.v1');
    sockets.push(app);
    await app.nextJson((f) => f.op === 'welcome');
    await sleep(50);
    const sent = DATA_SPELLINGS.map(([d]) => d);
    sent.forEach((d, k) => app.send(`{"op":"pub","id":${k},"topic":"v.pub","data":${d}}`)); // the usual shape
    sent.forEach((d, k) => app.send(`{"data":${d},"topic":"v.other","id":${10 + k},"op":"pub"}`)); // another
    app.send(`{"op":"pubs","id":20,"messages":[${sent.map((d) => `{"topic":"v.pubs","data":${d}}`).join(',')}]}`);
    const post = (path: string, body: string) => fetch(`${b.httpUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body });
    for (const d of sent) expect((await post('/api/publish/v.http', d)).status).toBe(200);
    expect((await post('/api/publish', `{"messages":[${sent.map((d) => `{"topic":"v.batch","data":${d}}`).join(',')}]}`)).status).toBe(200);
    for (let i = 0; i < 5 * sent.length; i++) await tap.next();
    const delivered = DATA_SPELLINGS.map(([, d]) => d);
    for (const topic of ['v.pub', 'v.other', 'v.pubs', 'v.http', 'v.batch']) expect(dataTexts(tap.frames, topic), topic).toEqual(delivered);
  });

  it('wildcard subscriptions across nodes: one upstream glob per prefix, each message once per client', async () => {
    const app = await openSocket(a.wsUrl, 'hub.v1');
    sockets.push(app);
    await app.nextJson((f) => f.op === 'welcome');
    app.send({ op: 'sub', id: 1, topic: 'w.*' });
    app.send({ op: 'sub', id: 2, topic: 'w.>' });
    app.send({ op: 'sub', id: 3, topic: 'w.a' });
    await app.nextJson((f) => f.id === 3);
    const tapB = await openTap(`${b.wsUrl}/w.>`);
    sockets.push(tapB);
    await sleep(50);
    const upstream = (a.hub.broker as RedisBroker).upstreamSubscriptions();
    expect(upstream).toContain('th:m:w.*');
    expect(upstream).not.toContain('th:m:w.a');
    for (let i = 0; i < 30; i++) {
      const node = i % 2 ? a : b;
      await node.hub.publish(['w.a', 'w.b', 'w.x.y'][i % 3], { i });
    }
    await app.nextJson((f) => f.topic === 'w.x.y' && f.seq === 10);
    await tapB.next((f) => f.includes('"topic":"w.x.y","seq":10'));
    await sleep(100);
    const byTopic = (frames: string[]) => {
      const m: Record<string, number[]> = {};
      for (const f of frames.map((x) => JSON.parse(x)).filter((x) => !x.op)) (m[f.topic] ??= []).push(f.seq);
      return m;
    };
    expect(byTopic(app.frames)).toEqual({ 'w.a': range(10), 'w.b': range(10), 'w.x.y': range(10) });
    expect(byTopic(tapB.frames)).toEqual({ 'w.a': range(10), 'w.b': range(10), 'w.x.y': range(10) });
    // The last local subscriber leaving releases the upstream subscription.
    app.ws.terminate();
    tapB.ws.terminate();
    await until('upstream release', () => !(a.hub.broker as RedisBroker).upstreamSubscriptions().includes('th:m:w.*'), 3000);
  });

  it('each node publishes its own $sys.stats, named like the node in its welcome', async () => {
    const [appA, appB] = await Promise.all([openSocket(a.wsUrl, 'hub.v1'), openSocket(b.wsUrl, 'hub.v1')]);
    const stats = await openTap(`${a.wsUrl}/$sys.stats`);
    sockets.push(appA, appB, stats);
    const nodeA = (await appA.nextJson<{ node: string }>((f) => f.op === 'welcome')).node;
    const nodeB = (await appB.nextJson<{ node: string }>((f) => f.op === 'welcome')).node;
    expect(nodeA).not.toBe(nodeB);
    const seen = () => new Set(stats.frames.map((f) => JSON.parse(f).data.node));
    await until('$sys.stats of both nodes', () => seen().has(nodeA) && seen().has(nodeB), 4000);
    expect([...seen()].sort()).toEqual([nodeA, nodeB].sort());
  });

  it('history on any node, and a client that resumes on another node misses nothing', async () => {
    for (let i = 1; i <= 30; i++) await a.hub.publish('h.t', { i });
    const app = await openSocket(b.wsUrl, 'hub.v1');
    sockets.push(app);
    const welcome = await app.nextJson<{ epoch: string }>();
    expect(welcome.epoch).toBe(a.hub.epoch);
    app.send({ op: 'history', id: 1, topic: 'h.t', since: 10, limit: 5 });
    const page = await app.nextJson<{ messages: HubMessage[]; lastSeq: number; truncated: boolean }>((f) => f.id === 1);
    expect(page.messages.map((m) => m.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(page).toMatchObject({ lastSeq: 30, truncated: false });
    const http = (await (await fetch(`${a.httpUrl}/api/history/h.t?limit=3`)).json()) as { messages: HubMessage[] };
    expect(http.messages.map((m) => m.seq)).toEqual([28, 29, 30]);

    // The shared HubClient, its sockets killed and each reconnect sent to the other node.
    const urls = [a.wsUrl, b.wsUrl];
    const opened: WebSocket[] = [];
    const client = new HubClient({
      url: a.wsUrl,
      minBackoffMs: 5,
      maxBackoffMs: 50,
      connect: (_url, protocol) => {
        const ws = new WebSocket(urls[opened.length % 2], protocol);
        opened.push(ws);
        return ws as unknown as WebSocketLike;
      },
    });
    const got: number[] = [];
    client.subscribe('h.r', (m) => got.push(m.seq));
    await until('client.status === "open"', () => client.status === 'open');
    await sleep(50);
    for (let i = 1; i <= 1200; i++) {
      await (i % 2 ? a : b).hub.publish('h.r', { i });
      if (i % 200 === 0) {
        await until('client.status === "open"', () => client.status === 'open');
        opened.at(-1)!.terminate();
      }
    }
    await until('resumed client to catch up', () => got.at(-1) === 1200, 10_000);
    client.close();
    expect(opened.length).toBeGreaterThanOrEqual(6);
    expect(got).toEqual(range(1200));
  });

  it('chat spans nodes: unique nicks cluster-wide, /who lists everyone, lines relayed, not echoed', async () => {
    const x = await openSocket(a.wsUrl);
    const y = await openSocket(b.wsUrl);
    sockets.push(x, y);
    await x.next((f) => f.startsWith('* welcome'));
    await y.next((f) => f.startsWith('* welcome'));
    x.send('/nick zed');
    await x.next((f) => f === '* you are now zed');
    y.send('/nick zed');
    expect(await y.next((f) => f.startsWith('!'))).toBe("! nick 'zed' is taken");
    y.send('/nick yan');
    await y.next((f) => f === '* you are now yan');
    y.send('/who');
    const who = await y.next((f) => f.startsWith('* in chat:'));
    expect(who).toContain('zed');
    expect(who).toContain('yan');
    x.send('hello from A');
    expect(await y.next((f) => f.includes('hello from A'))).toBe('zed: hello from A');
    y.send('hi from B');
    await x.next((f) => f.includes('hi from B'));
    expect(x.frames.filter((f) => f.includes('hello from A'))).toEqual([]);
    expect(y.frames.filter((f) => f.includes('hi from B'))).toEqual([]);
  });

  it('kill -9 a node mid-stream: its clients reconnect to another node and end with every message exactly once', async () => {
    const child = await spawnNode(redis.url);
    let target = child.wsUrl;
    const clients = [0, 1, 2].map(() => resumingClient(() => target, 'kill.*'));
    // A chat user on the doomed node: its nick must expire cluster-wide, announced as left.
    const ghost = await openSocket(child.wsUrl);
    ghost.send('/nick ghost');
    await ghost.next((f) => f === '* you are now ghost');
    const watcher = await openSocket(a.wsUrl);
    sockets.push(watcher);
    await watcher.next((f) => f.startsWith('* welcome'));
    await until('clients subscribed', () => clients.every((c) => c.ready), 10_000);
    await sleep(50);
    const topics = ['kill.a', 'kill.b', 'kill.c'];
    const N = 1500;
    for (let i = 1; i <= N; i++) {
      for (const t of topics) await (i % 2 ? a : b).hub.publish(t, { i });
      if (i === 500) {
        child.proc.kill('SIGKILL');
        target = b.wsUrl;
      }
      if (i % 100 === 0) await sleep(1);
    }
    await until('every client to get everything', () => clients.every((c) => topics.every((t) => c.last.get(t) === N)), 15_000);
    for (const c of clients) {
      c.stop();
      expect(c.resets()).toEqual([]);
      for (const t of topics) expect(c.seqs(t)).toEqual(range(N));
      expect(c.closes.length).toBeGreaterThanOrEqual(1);
    }
    expect(await watcher.next((f) => f === '* ghost left', 12_000)).toBe('* ghost left');
    watcher.send('/who');
    expect(await watcher.next((f) => f.startsWith('* in chat:'))).not.toContain('ghost');
  });

  it('a dropped pub/sub connection is caught up from the streams: exactly once, no reset', async () => {
    const c = resumingClient(() => b.wsUrl, 'gap.*');
    await until('subscribed', () => c.ready, 5000);
    await sleep(50);
    const N = 3000;
    let kills = 0;
    for (let i = 1; i <= N; i++) {
      await a.hub.publish(i % 2 ? 'gap.a' : 'gap.b', { i });
      if (i % 1000 === 500) {
        await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
        kills++;
      }
      if (i % 100 === 0) await sleep(2);
    }
    await until('catch-up', () => c.last.get('gap.a') === N / 2 && c.last.get('gap.b') === N / 2, 15_000);
    await sleep(100);
    const closes = [...c.closes];
    c.stop();
    expect(kills).toBe(3);
    expect(c.resets()).toEqual([]);
    expect(closes).toEqual([]); // the hub closed nothing: the gap was filled inside the node
    expect(c.seqs('gap.a')).toEqual(range(N / 2));
    expect(c.seqs('gap.b')).toEqual(range(N / 2));
  });
});

describe('REDIS_URL and an unreachable Redis', () => {
  it('validates REDIS_URL', () => {
    expect(loadConfig({ REDIS_URL: 'redis://10.0.0.5:6379' }).redisUrl).toBe('redis://10.0.0.5:6379');
    expect(loadConfig({}).redisUrl).toBeNull();
    expect(() => loadConfig({ REDIS_URL: 'http://10.0.0.5' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'http://10.0.0.5' })).toThrow(/REDIS_URL/);
  });

  it('while Redis is down: /healthz 503 degraded, publishing 503 unavailable; both recover by themselves', async () => {
    const r3 = await TestRedis.start();
    const n = await node(r3.url);
    try {
      const publish = () =>
        fetch(`${n.httpUrl}/api/publish/hc.t`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '1' });
      expect((await fetch(`${n.httpUrl}/healthz`)).status).toBe(200);
      expect((await publish()).status).toBe(200);
      await r3.kill();
      await until('degraded', () => n.hub.brokerStatus === 'degraded', 5000);
      const health = await fetch(`${n.httpUrl}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'degraded' });
      const refused = await publish();
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: { code: 'unavailable' } });
      await r3.restart();
      await until('ok again', () => n.hub.brokerStatus === 'ok', 10_000);
      expect((await fetch(`${n.httpUrl}/healthz`)).status).toBe(200);
      expect(await (await publish()).json()).toMatchObject({ seq: 1 }); // a new epoch: Redis lost everything
    } finally {
      await n.close();
      await r3.stop();
    }
  });
});

describe('Redis restarts and loses its data mid-stream', () => {
  it('publishers get errors while it is down; clients get everything or an explicit reset, then the new epoch exactly once', async () => {
    const r2 = await TestRedis.start();
    const [p, q] = await Promise.all([node(r2.url), node(r2.url)]);
    try {
      const oldEpoch = p.hub.epoch;
      const c = resumingClient(() => q.wsUrl, 'rr.*');
      await until('subscribed', () => c.ready, 5000);
      await sleep(50);
      const acked: { epoch: string; seq: number }[] = [];
      let errors = 0;
      let sawDegraded = false;
      let sinceRestart = 0;
      let restarted: Promise<void> | null = null;
      for (let i = 1; sinceRestart < 300; i++) {
        try {
          const env = await p.hub.publish('rr.t', { i });
          acked.push({ epoch: p.hub.epoch, seq: env.seq });
          if (restarted) sinceRestart++;
        } catch (err) {
          expect((err as { code?: string }).code).toBe('unavailable');
          errors++;
          await sleep(5);
        }
        if (i === 300) restarted = r2.restart(500);
        if (restarted && p.hub.brokerStatus === 'degraded') sawDegraded = true;
        if (i % 50 === 0) await sleep(1);
        if (i > 100_000) throw new Error('publishing never recovered');
      }
      await restarted;
      const newEpoch = p.hub.epoch;
      expect(newEpoch).not.toBe(oldEpoch);
      expect(q.hub.epoch).toBe(newEpoch);
      expect(errors).toBeGreaterThan(0);
      expect(sawDegraded).toBe(true);
      const ackedNew = acked.filter((x) => x.epoch === newEpoch).map((x) => x.seq);
      const ackedOld = acked.filter((x) => x.epoch === oldEpoch).map((x) => x.seq);
      expect(ackedOld).toEqual(range(ackedOld.length));
      expect(ackedNew).toEqual(range(ackedNew.length));
      await until('the client to reach the new epoch head', () => c.last.get('rr.t') === ackedNew.at(-1), 15_000);
      c.stop();

      // The documented guarantee: old-epoch messages arrive in order without duplicates (a tail
      // may be lost with Redis), then an explicit reset (epoch), then every new-epoch message once.
      const resetAt = c.events.findIndex((e) => e.kind === 'reset' && e.epoch === newEpoch);
      expect(resetAt).toBeGreaterThan(0);
      expect(c.events[resetAt]).toMatchObject({ topic: 'rr.t', reason: 'epoch' });
      const before = c.events.slice(0, resetAt).filter((e) => e.kind === 'msg').map((e) => e.seq!);
      expect(before).toEqual(range(before.length));
      expect(before.length).toBeGreaterThanOrEqual(Math.min(250, ackedOld.length));
      const after = c.events.slice(resetAt).filter((e) => e.kind === 'msg' && e.epoch === newEpoch).map((e) => e.seq!);
      expect(after).toEqual(ackedNew);
      expect(c.closes).toContain(1012); // the node told it to resume
    } finally {
      await Promise.all([p.close(), q.close()]);
      await r2.stop();
    }
  });
});

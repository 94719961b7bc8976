import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { testConfig } from '../../../server/config.ts';
import { HubClient, type WebSocketLike } from '../../../client/hub-client.ts';
import type { HubMessage, ResetFrame } from '../../../protocol/wire.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSocket, openTap, sleep, type TestSocket } from '../../support/ws-client.ts';

const KEY = 'recovery-key';
let running: RunningHub;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  running = await startHub(
    testConfig({
      publishKey: KEY,
      retention: [
        { pattern: 'prop.>', maxMessages: 100_000, maxAgeSeconds: 3600 },
        { pattern: 'short.>', maxMessages: 5, maxAgeSeconds: 3600 },
        { pattern: '>', maxMessages: 1000, maxAgeSeconds: 3600 },
      ],
      chatBacklog: 3,
    }),
  );
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await running.close();
});

const publish = (topic: string, data: unknown) => running.hub.publish(topic, data);

/** A seeded PRNG so a failing run can be replayed. */
function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('recovery', () => {
  it('a client killed at random moments ends with every message exactly once, in order (raw protocol)', async () => {
    const topics = ['prop.a', 'prop.b', 'prop.c'];
    const N = 12_000; // per topic
    const random = mulberry32(0xc0ffee);
    const received = new Map<string, number[]>(topics.map((t) => [t, []]));
    const last = new Map<string, number>();
    let epoch = '';
    let sinceTs = 0;
    let kills = 0;
    let current = null as WebSocket | null;
    let stop = false;

    const connect = () =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(running.wsUrl, ['hub.v1']);
        current = ws;
        ws.on('message', (raw) => {
          const f = JSON.parse(String(raw));
          if (f.op === 'welcome') {
            if (!epoch) epoch = f.epoch;
            const sub = sinceTs ? { since: Object.fromEntries(last), sinceTs, epoch } : {};
            ws.send(JSON.stringify({ op: 'sub', id: 1, topic: 'prop.*', ...sub }));
          } else if (f.op === 'ok') {
            sinceTs ||= f.ts;
            resolve(); // subscribed: from here on nothing may be missed
          } else if (!f.op) {
            received.get(f.topic)!.push(f.seq);
            last.set(f.topic, f.seq);
          } else if (f.op === 'reset' || f.op === 'error') {
            throw new Error(`unexpected ${String(raw)}`);
          }
        });
        ws.on('error', () => {});
        ws.on('close', () => {
          if (!stop) setTimeout(() => void connect(), random() * 20);
        });
      });

    await connect();
    let nextKill = 1 + Math.floor(random() * 400);
    for (let i = 1; i <= N; i++) {
      for (const t of topics) await publish(t, { i });
      if (i % 50 === 0) await sleep(0); // let sockets flush and reconnect while the stream goes on
      if (i === nextKill) {
        nextKill += 1 + Math.floor(random() * 400);
        if (current?.readyState === WebSocket.OPEN) {
          kills++;
          current.terminate();
        }
      }
    }
    const deadline = Date.now() + 15_000;
    while (topics.some((t) => last.get(t) !== N) && Date.now() < deadline) await sleep(20);
    stop = true;
    current?.terminate();
    expect(kills).toBeGreaterThan(10);
    for (const t of topics) expect(received.get(t)).toEqual(Array.from({ length: N }, (_, k) => k + 1));
  });

  it('the shared HubClient resumes by itself after its sockets are killed', async () => {
    const sockets: WebSocket[] = [];
    const client = new HubClient({
      url: running.wsUrl,
      minBackoffMs: 5,
      maxBackoffMs: 50,
      connect: (url, protocol) => {
        const ws = new WebSocket(url, protocol);
        sockets.push(ws);
        return ws as unknown as WebSocketLike;
      },
    });
    const got: number[] = [];
    let kills = 0;
    client.subscribe('prop.hc', (m: HubMessage) => got.push(m.seq));
    while (client.status !== 'open') await sleep(5);
    await sleep(20);
    for (let i = 1; i <= 3000; i++) {
      await publish('prop.hc', { i });
      if (i % 500 === 0) {
        while (client.status !== 'open' || sockets.length !== kills + 1) await sleep(1);
        sockets.at(-1)!.terminate();
        kills++;
      }
    }
    const deadline = Date.now() + 10_000;
    while (got.at(-1) !== 3000 && Date.now() < deadline) await sleep(10);
    client.close();
    expect(sockets.length).toBeGreaterThanOrEqual(7);
    expect(got).toEqual(Array.from({ length: 3000 }, (_, k) => k + 1));
  });

  it('snapshot=N sends the last N messages then live ones, without gap or duplicate', async () => {
    for (let i = 1; i <= 10; i++) await publish('snap.t', { i });
    const tap = await openTap(`${running.wsUrl}/snap.t?snapshot=3`);
    sockets.push(tap);
    await tap.next((f) => f.includes('"seq":10'));
    await publish('snap.t', { i: 11 });
    await tap.next((f) => f.includes('"seq":11'));
    expect(tap.frames.map((f) => JSON.parse(f).seq)).toEqual([8, 9, 10, 11]);
  });

  it('since=SEQ resumes a tap and an app sub after that seq', async () => {
    for (let i = 1; i <= 6; i++) await publish('since.t', { i });
    const tap = await openTap(`${running.wsUrl}/since.t?since=4`);
    sockets.push(tap);
    await tap.next((f) => f.includes('"seq":6'));
    expect(tap.frames.map((f) => JSON.parse(f).seq)).toEqual([5, 6]);
    const app = await openSocket(running.wsUrl, 'hub.v1');
    sockets.push(app);
    const welcome = await app.nextJson<{ epoch: string }>();
    app.send({ op: 'sub', id: 1, topic: 'since.*', since: { 'since.t': 2 }, epoch: welcome.epoch });
    expect(await app.nextJson()).toMatchObject({ op: 'ok', id: 1 });
    const seqs = [];
    for (let i = 0; i < 4; i++) seqs.push((await app.nextJson<{ seq: number }>()).seq);
    expect(seqs).toEqual([3, 4, 5, 6]);
  });

  it('says reset (trimmed) when the asked range is gone, then sends a fresh snapshot', async () => {
    for (let i = 1; i <= 20; i++) await publish('short.t', { i });
    const app = await openSocket(running.wsUrl, 'hub.v1');
    sockets.push(app);
    const welcome = await app.nextJson<{ epoch: string }>();
    app.send({ op: 'sub', id: 1, topic: 'short.t', since: 3, epoch: welcome.epoch });
    expect(await app.nextJson()).toMatchObject({ op: 'ok' });
    expect(await app.nextJson<ResetFrame>()).toEqual({ op: 'reset', topic: 'short.t', epoch: welcome.epoch, reason: 'trimmed' });
    const seqs = [];
    for (let i = 0; i < 5; i++) seqs.push((await app.nextJson<{ seq: number }>()).seq);
    expect(seqs).toEqual([16, 17, 18, 19, 20]);
  });

  it('says reset (epoch) when the client resumes from another epoch', async () => {
    for (let i = 1; i <= 3; i++) await publish('ep.t', { i });
    const app = await openSocket(running.wsUrl, 'hub.v1');
    sockets.push(app);
    await app.nextJson();
    app.send({ op: 'sub', id: 1, topic: 'ep.*', since: { 'ep.t': 2, 'ep.gone': 7 }, epoch: 'some-old-epoch', snapshot: 2 });
    expect(await app.nextJson()).toMatchObject({ op: 'ok' });
    const frames = [];
    for (let i = 0; i < 4; i++) frames.push(await app.nextJson<Record<string, unknown>>());
    expect(frames.filter((f) => f.op === 'reset').map((f) => [f.topic, f.reason]).sort()).toEqual([
      ['ep.gone', 'epoch'],
      ['ep.t', 'epoch'],
    ]);
    expect(frames.filter((f) => !f.op).map((f) => f.seq)).toEqual([2, 3]);
  });

  it('the HubClient reports a reset when the hub restarted and history is gone', async () => {
    const first = await startHub(testConfig({ publishKey: KEY }));
    const port = first.port;
    const resets: ResetFrame[] = [];
    const got: HubMessage[] = [];
    const client = new HubClient({ url: first.wsUrl, minBackoffMs: 10, maxBackoffMs: 50, connect: (u, p) => new WebSocket(u, p) as unknown as WebSocketLike });
    client.subscribe('rs.t', (m) => got.push(m), { onReset: (r) => resets.push(r) });
    while (client.status !== 'open') await sleep(5);
    await sleep(20);
    await first.hub.publish('rs.t', { n: 1 });
    while (got.length < 1) await sleep(5);
    await first.close();
    const second = await startHub(testConfig({ publishKey: KEY, port }));
    while (resets.length === 0) await sleep(10);
    expect(resets[0]).toMatchObject({ topic: 'rs.t', reason: 'epoch', epoch: second.hub.epoch });
    await second.hub.publish('rs.t', { n: 'new' });
    while (got.length < 2) await sleep(5);
    expect(got[1]).toMatchObject({ seq: 1, data: { n: 'new' } });
    client.close();
    await second.close();
  });

  it('history op and GET /api/history page through a topic', async () => {
    for (let i = 1; i <= 30; i++) await publish('page.t', { i });
    const app = await openSocket(running.wsUrl, 'hub.v1');
    sockets.push(app);
    await app.nextJson();
    app.send({ op: 'history', id: 1, topic: 'page.t', since: 10, limit: 5 });
    const page = await app.nextJson<{ messages: HubMessage[]; lastSeq: number }>();
    expect(page.messages.map((m) => m.seq)).toEqual([11, 12, 13, 14, 15]);
    expect(page.lastSeq).toBe(30);
    const res = (await (await fetch(`${running.httpUrl}/api/history/page.t?limit=3`)).json()) as { messages: HubMessage[] };
    expect(res.messages.map((m) => m.seq)).toEqual([28, 29, 30]);
    expect((await fetch(`${running.httpUrl}/api/history/page.t?limit=abc`)).status).toBe(400);
  });
});

describe('chat presence', () => {
  it('a new chat client sees recent lines; joins and leaves are announced; /who lists people', async () => {
    const a = await openSocket(running.wsUrl);
    sockets.push(a);
    a.send('/nick pres_a');
    await a.next((f) => f === '* you are now pres_a');
    a.send('line one');
    a.send('line two');
    await sleep(50);
    const b = await openSocket(running.wsUrl);
    sockets.push(b);
    await b.next((f) => f === 'pres_a: line two');
    expect(b.frames).toContain('pres_a: line one');
    const joined = await a.next((f) => /^\* guest-\d+ joined$/.test(f));
    const nick = joined.split(' ')[1];
    b.send('/who');
    const who = await b.next((f) => f.startsWith('* in chat:'));
    expect(who).toContain('pres_a');
    expect(who).toContain(nick);
    b.close();
    expect(await a.next((f) => f.endsWith(' left'))).toBe(`* ${nick} left`);
  });
});

/**
 * Attacks on chat, nicks, rate limits and history from the security audit, each against a real
 * hub: the attack is contained, and a well-behaved subscriber on the same hub keeps receiving
 * every message promptly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig, type HubConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { TestRedis } from '../../support/redis-server.ts';
import { openSocket, sleep, type TestSocket } from '../../support/ws-client.ts';
import { until } from '../../support/until.ts';

const KEY = 'chat-hardening-key';
const sockets: TestSocket[] = [];
const hubs: RunningHub[] = [];
let hub: RunningHub;

async function startTestHub(overrides: Partial<HubConfig> = {}): Promise<RunningHub> {
  const h = await startHub(testConfig({ publishKey: KEY, maxConnectionsPerIp: 5000, ...overrides }));
  hubs.push(h);
  return h;
}
async function open(h: RunningHub, path = '', protocol?: string): Promise<TestSocket> {
  const s = await openSocket(`${h.wsUrl}${path}`, protocol);
  sockets.push(s);
  return s;
}
async function appSocket(h: RunningHub, query = ''): Promise<TestSocket> {
  const s = await open(h, query, 'hub.v1');
  await s.nextJson((f) => f.op === 'welcome');
  return s;
}
async function lineSocket(h: RunningHub): Promise<TestSocket> {
  const s = await open(h);
  await s.next((f) => f.startsWith('* welcome'));
  return s;
}
function post(h: RunningHub, topic: string, body: unknown, key?: string) {
  return fetch(`${h.httpUrl}/api/publish/${topic}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
}

/** A subscriber that must get all of 20 messages in order, each within 250 ms of its publish. */
async function expectHealthy(h: RunningHub): Promise<void> {
  const sub = await appSocket(h, `?token=${KEY}`);
  const topic = `probe.p${Math.random().toString(36).slice(2, 8)}`;
  sub.send({ op: 'sub', id: 1, topic });
  await sub.nextJson((f) => f.op === 'ok' && f.id === 1);
  const pub = await appSocket(h, `?token=${KEY}`);
  for (let i = 1; i <= 20; i++) {
    const sent = performance.now();
    pub.send({ op: 'pub', id: i, topic, data: { i } });
    const msg = await sub.nextJson<{ seq: number; data: { i: number } }>((f) => f.topic === topic, 2000);
    expect(msg.data.i).toBe(i);
    expect(msg.seq).toBe(i);
    expect(performance.now() - sent).toBeLessThan(250);
  }
  sub.close();
  pub.close();
}

beforeAll(async () => {
  hub = await startTestHub({ maxQueuedLines: 16 });
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await Promise.all(hubs.map((h) => h.close()));
});

describe('rate limit', () => {
  it('belongs to the connection: interleaving `auth` does not refill the bucket', async () => {
    const h = await startTestHub({ rateLimitPerSecond: 50, rateLimitBurst: 100, rateLimitStrikes: 50 });
    const attacker = await appSocket(h);
    const started = performance.now();
    // Wait for each auth to take effect before the next publishes, as the audit's attack did.
    for (let i = 0; i < 1000 && attacker.ws.readyState === attacker.ws.OPEN; i++) {
      attacker.send({ op: 'auth', id: `a${i}`, token: '' });
      for (let k = 0; k < 3; k++) attacker.send({ op: 'pub', id: i * 3 + k, topic: 'chat', data: { text: `spam ${i}` } });
      await attacker.next((f) => f.includes(`"a${i}"`) || f.includes('rate_limited'), 2000).catch(() => {});
    }
    const closed = await Promise.race([attacker.closed, sleep(3000).then(() => ({ code: -1, reason: 'still open: the attack was not contained' }))]);
    const seconds = (performance.now() - started) / 1000;
    expect(closed.code).toBe(1008);
    const replies = attacker.frames.map((f) => JSON.parse(f));
    const published = replies.filter((r) => r.op === 'ok' && typeof r.id === 'number').length;
    expect(replies.some((r) => r.code === 'rate_limited')).toBe(true);
    // The frames allowed: the burst plus the refill, however often auth was sent (auths count too).
    expect(published).toBeLessThanOrEqual(Math.ceil(100 + 50 * seconds));
    await expectHealthy(h);
  });
});

describe('line-mode commands', () => {
  it('run in order, and every nick a burst of renames claimed is released on close', async () => {
    const watcher = await lineSocket(hub);
    watcher.send('/nick watcher');
    await watcher.next((f) => f === '* you are now watcher');
    const burst = await Promise.all(Array.from({ length: 40 }, () => lineSocket(hub)));
    burst.forEach((s, i) => {
      for (let j = 0; j < 15; j++) s.send(`/nick n${i}x${j}`);
    });
    // One connection waits for its renames to finish: they came back in the order sent.
    const done = await burst[0].next((f) => f === '* you are now n0x14');
    expect(done).toBeTruthy();
    const order = burst[0].frames.filter((f) => f.startsWith('* you are now')).map((f) => f.slice('* you are now '.length));
    expect(order).toEqual(Array.from({ length: 15 }, (_, j) => `n0x${j}`));
    for (const s of burst) s.ws.terminate(); // most with renames still queued or in flight
    await until('burst nicks released', async () => (await hub.chat.nicks()).every((n) => !/^n\d+x\d+$/.test(n)), 5000);
    watcher.send('/who');
    const who = await watcher.next((f) => f.startsWith('* in chat:'));
    expect(who).not.toMatch(/n\d+x\d+/);
    expect(who).toContain('watcher');
    await expectHealthy(hub);
  });

  it('bound how many lines may wait, refusing the rest with a ! line naming MAX_QUEUED_LINES', async () => {
    const s = await lineSocket(hub);
    for (let i = 0; i < 40; i++) s.send(`/nick q${i}`);
    const refused = await s.next((f) => f.startsWith('! too many lines waiting'));
    expect(refused).toMatch(/MAX_QUEUED_LINES.*not run: \/nick q\d+/);
    s.send('/who');
    expect(await s.next((f) => f.startsWith('* in chat:'))).toMatch(/q\d+/);
  });

  it('release every nick with the Redis broker too', async () => {
    const redis = await TestRedis.start();
    try {
      const h = await startTestHub({ redisUrl: redis.url });
      const burst = await Promise.all(Array.from({ length: 20 }, () => lineSocket(h)));
      burst.forEach((s, i) => {
        for (let j = 0; j < 10; j++) s.send(`/nick r${i}x${j}`);
      });
      await burst[0].next((f) => f === '* you are now r0x9');
      for (const s of burst) s.ws.terminate();
      await until('presence empty', async () => (await h.chat.nicks()).length === 0, 5000);
      await expectHealthy(h);
      await h.close();
    } finally {
      await redis.stop();
    }
  });
});

describe('lines queued when a line client goes', () => {
  it('do not run: a /sub queued behind renames adds no subscription after the client left (Redis broker)', async () => {
    const redis = await TestRedis.start();
    try {
      const h = await startTestHub({ redisUrl: redis.url });
      for (let k = 0; k < 10; k++) {
        const s = await lineSocket(h);
        for (let i = 0; i < 5; i++) s.send(`/nick leak${k}x${i}`);
        s.send(`/sub leak.t${k}`);
        await new Promise((r) => setTimeout(r, 1));
        s.ws.terminate();
      }
      await until('connections gone', () => h.hub.connections.size === 0, 5000);
      await new Promise((r) => setTimeout(r, 500)); // what was queued has had its chance to run
      expect(h.hub.stats().subscriptions).toBe(0);
      expect((await h.chat.nicks()).filter((n) => n.startsWith('leak'))).toEqual([]);
      await h.close();
    } finally {
      await redis.stop();
    }
  });
});

describe('the chat rule', () => {
  it('holds on every path: length, kind and control characters', async () => {
    const app = await appSocket(hub);
    const line = await lineSocket(hub);
    const long = 'x'.repeat(2001);
    const bad: Array<[unknown, RegExp]> = [
      [{ text: long }, /limited to 2000 characters/],
      [{ text: 'hi', kind: 'join' }, /'kind' is set by the hub only/],
      [{ text: 'hi', kind: { evil: 1 } }, /'kind' is set by the hub only/],
      [{ text: 'line1\n* root joined' }, /control characters/],
      [{ text: 'red \u001b[31m' }, /control characters/],
      [{ text: 'abc\u202edcba' }, /control characters/],
      [{ text: 'hi', nick: 'ro\u0007ot' }, /nick must be/],
    ];
    for (const [i, [data, message]] of bad.entries()) {
      app.send({ op: 'pub', id: i, topic: 'chat', data });
      const reply = await app.nextJson((f) => f.id === i);
      expect(reply).toMatchObject({ op: 'error', code: 'bad_request' });
      expect(reply.message).toMatch(message);
      const res = await post(hub, 'chat', data);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
    line.send(long);
    expect(await line.next((f) => f.startsWith('!'))).toBe('! chat lines are limited to 2000 characters');
    line.send('bell\u0007');
    expect(await line.next((f) => f.startsWith('!'))).toMatch(/control characters/);
    const page = (await (await fetch(`${hub.httpUrl}/api/history/chat?limit=500`)).json()) as { messages: { data: { text: string } }[] };
    expect(page.messages.some((m) => /[\u0000-\u001f\u202e]/.test(m.data.text) || m.data.text.length > 2000)).toBe(false);
    await expectHealthy(hub);
  });

  it('is escaped when line mode renders chat that reached history anyway', async () => {
    const line = await lineSocket(hub);
    await hub.hub.broker.publish('chat', JSON.stringify({ nick: 'old\u001b', text: 'from before\n* root joined' }));
    expect(await line.next((f) => f.includes('from before'))).toBe('old\\u001b: from before\\u000a* root joined');
  });
});

describe('nicks are owned', () => {
  it('an app client that chats under a nick holds it; others may not speak under it', async () => {
    const alice = await lineSocket(hub);
    alice.send('/nick alice');
    await alice.next((f) => f === '* you are now alice');
    const forger = await appSocket(hub);
    forger.send({ op: 'pub', id: 1, topic: 'chat', data: { nick: 'alice', text: 'I am alice, trust me' } });
    expect(await forger.nextJson((f) => f.id === 1)).toMatchObject({ op: 'error', code: 'bad_request', message: "nick 'alice' is taken" });
    const res = await post(hub, 'chat', { nick: 'alice', text: 'I am alice, trust me' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe("nick 'alice' is held by a chat user; pick another");

    const console = await appSocket(hub);
    console.send({ op: 'pub', id: 1, topic: 'chat', data: { nick: 'consoleop', text: 'hello' } });
    expect(await console.nextJson((f) => f.id === 1)).toMatchObject({ op: 'ok' });
    expect(await alice.next((f) => f.includes('hello'))).toBe('consoleop: hello');
    expect(await hub.chat.nicks()).toContain('consoleop');
    alice.send('/nick consoleop');
    expect(await alice.next((f) => f.startsWith('!'))).toBe("! nick 'consoleop' is taken");
    const http = await post(hub, 'chat', { nick: 'consoleop', text: 'me too' });
    expect(http.status).toBe(403);
    // A nick change releases the old one; closing releases the current one.
    console.send({ op: 'pub', id: 2, topic: 'chat', data: { nick: 'consoleop2', text: 'renamed' } });
    await console.nextJson((f) => f.id === 2);
    await until('old nick released', async () => !(await hub.chat.nicks()).includes('consoleop'), 2000);
    console.close();
    await until('nick released on close', async () => !(await hub.chat.nicks()).includes('consoleop2'), 2000);
    expect((await post(hub, 'chat', { nick: 'consoleop2', text: 'free now' })).status).toBe(200);
    await expectHealthy(hub);
  });
});

describe('HTTP publishing', () => {
  it('is rate-limited per address and credential with 429 and Retry-After', async () => {
    const h = await startTestHub({ rateLimitPerSecond: 5, rateLimitBurst: 10 });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    const started = performance.now();
    for (let i = 0; i < 30; i++) {
      const res = await post(h, 'chat', { text: `post ${i}` });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'rate_limited', message: expect.stringContaining('RATE_LIMIT') });
      } else await res.body?.cancel();
    }
    // The burst, plus what the rate refilled while the 30 posts took (a slow machine takes longer).
    const refilled = Math.floor((5 * (performance.now() - started)) / 1000);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(10 + refilled + 1);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(30 - (10 + refilled + 1));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Another credential from the same address has its own allowance (publishers a higher one).
    for (let i = 0; i < 30; i++) expect((await post(h, 'feed.x', { i }, KEY)).status).toBe(200);
    await expectHealthy(h);
  });
});

describe('history', () => {
  it('replies are bounded in bytes and say `more`; paging on with since gets the rest', async () => {
    const h = await startTestHub({ maxHistoryBytes: 8192 });
    for (let i = 1; i <= 12; i++) expect((await post(h, 'docs.big', { i, pad: 'p'.repeat(1500) }, KEY)).status).toBe(200);
    const first = (await (await fetch(`${h.httpUrl}/api/history/docs.big?since=0`)).json()) as { more: boolean; messages: { seq: number }[] };
    expect(first.more).toBe(true);
    expect(first.messages.length).toBeGreaterThan(0);
    expect(JSON.stringify(first.messages).length).toBeLessThanOrEqual(8192);
    const app = await appSocket(h);
    const seqs: number[] = first.messages.map((m) => m.seq);
    let more = first.more;
    for (let id = 1; more && id < 20; id++) {
      app.send({ op: 'history', id, topic: 'docs.big', since: seqs.at(-1) });
      const page = await app.nextJson<{ more: boolean; messages: { seq: number }[] }>((f) => f.id === id);
      seqs.push(...page.messages.map((m) => m.seq));
      more = page.more;
    }
    expect(seqs).toEqual(Array.from({ length: 12 }, (_, k) => k + 1));
    await expectHealthy(h);
  });
});

/**
 * Credentials have a lifetime on open connections too: a connection whose JWT expires gets a
 * `token_expired` error and close 4001 (one DueQueue for all connections); `auth` with a fresh
 * token moves the expiry; JWT_REQUIRE_EXP refuses elevated tokens that never expire.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sign } from 'hono/jwt';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { HubClient, type WebSocketLike } from '../../../client/hub-client.ts';
import WebSocket from 'ws';
import { openSocket, sleep, upgradeStatus, type TestSocket } from '../../support/ws-client.ts';
import { until } from '../../support/until.ts';

const SECRET = 'a-very-long-jwt-secret-for-expiry-tests-0123';
const hubs: RunningHub[] = [];
const sockets: TestSocket[] = [];
let hub: RunningHub;

/** A token expiring `seconds` from now (fractional seconds allowed), or never with `null`. */
const token = (role: string, seconds: number | null) =>
  sign({ role, sub: 'exp-test', ...(seconds === null ? {} : { exp: Date.now() / 1000 + seconds }) }, SECRET, 'HS256');

async function open(url: string, protocol?: string): Promise<TestSocket> {
  const s = await openSocket(url, protocol);
  sockets.push(s);
  return s;
}

beforeAll(async () => {
  hub = await startHub(testConfig({ jwtSecret: SECRET, publishKey: 'expiry-publish-key' }));
  hubs.push(hub);
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await Promise.all(hubs.map((h) => h.close()));
});

describe.concurrent('credential expiry on open connections', () => {
  it('closes an app connection 4001 after its token expires, not before, with a token_expired error first', async () => {
    const opened = performance.now();
    const app = await open(`${hub.wsUrl}?token=${await token('operator', 1.5)}`, 'hub.v1');
    const line = await open(`${hub.wsUrl}?token=${await token('operator', 1.5)}`);
    const bystander = await open(`${hub.wsUrl}/watch.it`);
    await sleep(1000);
    app.send({ op: 'ping', id: 1 });
    expect(await app.nextJson((f) => f.id === 1)).toMatchObject({ op: 'ok' });
    const closed = await app.closed;
    expect(performance.now() - opened).toBeGreaterThanOrEqual(1300);
    expect(closed).toEqual({ code: 4001, reason: 'credential expired' });
    expect(JSON.parse(app.frames.at(-1)!)).toMatchObject({ op: 'error', code: 'token_expired' });
    expect((await line.closed).code).toBe(4001);
    expect(line.frames.at(-1)).toMatch(/^! your credential expired/);
    // Others are not touched, and keep receiving.
    const res = await fetch(`${hub.httpUrl}/api/publish/watch.it`, { method: 'POST', headers: { authorization: 'Bearer expiry-publish-key', 'content-type': 'application/json' }, body: '{"n":1}' });
    expect(res.status).toBe(200);
    expect(JSON.parse(await bystander.next((f) => f.includes('"n":1')))).toMatchObject({ topic: 'watch.it', data: { n: 1 } });
  });

  it('keeps a connection open whose token was refreshed with auth before it expired', async () => {
    const app = await open(`${hub.wsUrl}?token=${await token('operator', 1.5)}`, 'hub.v1');
    await app.nextJson((f) => f.op === 'welcome');
    app.send({ op: 'auth', id: 1, token: await token('operator', 60) });
    expect(await app.nextJson((f) => f.id === 1)).toMatchObject({ op: 'ok', role: 'operator' });
    await sleep(2200); // past the first token's expiry: its queue entry is stale
    app.send({ op: 'ping', id: 2 });
    expect(await app.nextJson((f) => f.id === 2)).toMatchObject({ op: 'ok' });
    expect(app.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('the shared client reconnects after 4001', async () => {
    const statuses: string[] = [];
    const client = new HubClient({
      url: hub.wsUrl,
      token: await token('viewer', 1.2),
      minBackoffMs: 50,
      maxBackoffMs: 100,
      connect: (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike,
      onStatus: (status) => statuses.push(status),
    });
    const deadline = Date.now() + 5000;
    while (!(statuses.includes('closed') && statuses.lastIndexOf('connecting') > statuses.indexOf('closed')) && Date.now() < deadline) await sleep(20);
    client.close();
    expect(statuses.slice(0, 2)).toEqual(['connecting', 'open']);
    expect(statuses.lastIndexOf('connecting')).toBeGreaterThan(statuses.indexOf('closed'));
  });
});

describe.concurrent('expiry warning (JWT_EXPIRY_WARNING_MS)', () => {
  let warned: RunningHub;
  beforeAll(async () => {
    warned = await startHub(testConfig({ jwtSecret: SECRET, publishKey: 'expiry-publish-key', jwtExpiryWarningMs: 1000 }));
    hubs.push(warned);
  });
  const frameTimes = (s: TestSocket) => {
    const seen: { at: number; frame: string }[] = [];
    s.ws.on('message', (data) => seen.push({ at: performance.now(), frame: String(data) }));
    return seen;
  };

  it('sends expiring ~1 s before a 2 s token expires, not before, then closes 4001 if not refreshed', async () => {
    const started = performance.now();
    const app = await open(`${warned.wsUrl}?token=${await token('operator', 2)}`, 'hub.v1');
    const seen = frameTimes(app);
    await sleep(700);
    expect(seen.some((s) => s.frame.includes('"expiring"'))).toBe(false);
    const warning = await until('the expiring frame', () => seen.find((s) => s.frame.includes('"expiring"')), 3000);
    const frame = JSON.parse(warning.frame) as { op: string; at: number; in: number };
    expect(warning.at - started).toBeGreaterThanOrEqual(850);
    expect(warning.at - started).toBeLessThan(1600);
    expect(frame.op).toBe('expiring');
    expect(frame.in).toBeGreaterThan(700);
    expect(frame.in).toBeLessThanOrEqual(1000);
    expect(Math.abs(frame.at - (Date.now() + frame.in - (performance.now() - warning.at)))).toBeLessThan(100);
    expect(await app.closed).toEqual({ code: 4001, reason: 'credential expired' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(1800);
    expect(seen.filter((s) => s.frame.includes('"expiring"'))).toHaveLength(1);
  });

  it('warns line mode with a ! line and taps with the JSON frame', async () => {
    const line = await open(`${warned.wsUrl}?token=${await token('operator', 2)}`);
    const tap = await open(`${warned.wsUrl}/watch.it?token=${await token('viewer', 2)}`);
    expect(await line.next((f) => f.startsWith('! your credential expires'), 3000)).toMatch(/^! your credential expires in 1 s; reconnect with a fresh token$/);
    expect(JSON.parse(await tap.next((f) => f.includes('"expiring"'), 3000))).toMatchObject({ op: 'expiring', in: expect.any(Number), at: expect.any(Number) });
    expect((await tap.closed).code).toBe(4001);
    expect((await line.closed).code).toBe(4001);
  });

  it('warns at half the life of a credential shorter than the warning', async () => {
    const started = performance.now();
    const app = await open(`${warned.wsUrl}?token=${await token('operator', 0.8)}`, 'hub.v1');
    const frame = await app.nextJson((f) => f.op === 'expiring', 3000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(performance.now() - started).toBeLessThan(700);
    expect(frame.in).toBeLessThanOrEqual(450);
    expect((await app.closed).code).toBe(4001);
  });

  it('auth with a fresh token before expiry: no close, and a new warning for the new token', async () => {
    const app = await open(`${warned.wsUrl}?token=${await token('operator', 1.5)}`, 'hub.v1');
    const seen = frameTimes(app);
    const first = await app.nextJson<{ at: number }>((f) => f.op === 'expiring', 3000);
    app.send({ op: 'auth', id: 1, token: await token('operator', 2.5) });
    expect(await app.nextJson((f) => f.id === 1)).toMatchObject({ op: 'ok', role: 'operator' });
    const refreshedAt = performance.now();
    await sleep(900); // past the first token's expiry: its entries are stale
    expect(app.ws.readyState).toBe(WebSocket.OPEN);
    const second = await app.nextJson<{ at: number; in: number }>((f) => f.op === 'expiring', 3000);
    expect(second.at).toBeGreaterThan(first.at + 500);
    expect(performance.now() - refreshedAt).toBeGreaterThanOrEqual(1200);
    expect(seen.filter((s) => s.frame.includes('"expiring"'))).toHaveLength(2);
    expect(await app.closed).toEqual({ code: 4001, reason: 'credential expired' });
  });

  it('the shared client with getToken stays connected across two token lifetimes: no reconnect, no message lost', async () => {
    const statuses: string[] = [];
    let issued = 0;
    const client = new HubClient({
      url: warned.wsUrl,
      token: await token('viewer', 1.5),
      minBackoffMs: 50,
      maxBackoffMs: 100,
      connect: (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike,
      onStatus: (status) => statuses.push(status),
      getToken: async () => {
        issued++;
        return token('viewer', 1.5);
      },
    });
    const got: number[] = [];
    client.subscribe('refresh.feed', (m) => got.push((m.data as { n: number }).n));
    await until('the client to be open', () => client.status === 'open', 3000);
    await sleep(100); // the sub is accepted
    let n = 0;
    const publish = async () => {
      const res = await fetch(`${warned.httpUrl}/api/publish/refresh.feed`, { method: 'POST', headers: { authorization: 'Bearer expiry-publish-key', 'content-type': 'application/json' }, body: JSON.stringify({ n: ++n }) });
      expect(res.status).toBe(200);
    };
    const until3500 = performance.now() + 3500; // past two lifetimes of 1.5 s
    while (performance.now() < until3500) {
      await publish();
      await sleep(50);
    }
    await until('every message', () => got.length === n, 3000);
    client.close();
    expect(issued).toBeGreaterThanOrEqual(2);
    expect(statuses).toEqual(['connecting', 'open', 'closed']); // the last one is close()
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  it('the shared client whose getToken fails reconnects after 4001 as without it', async () => {
    const statuses: string[] = [];
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const client = new HubClient({
      url: warned.wsUrl,
      token: await token('viewer', 1.2),
      minBackoffMs: 50,
      maxBackoffMs: 100,
      connect: (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike,
      onStatus: (status) => statuses.push(status),
      getToken: () => Promise.reject(new Error('token service down')),
    });
    try {
      await until('a reconnect after the close', () => statuses.includes('closed') && statuses.lastIndexOf('connecting') > statuses.indexOf('closed'), 5000);
      expect(errors).toHaveBeenCalled();
    } finally {
      client.close();
      errors.mockRestore();
    }
  });
});

describe('JWT_REQUIRE_EXP', () => {
  it('elevated (default): refuses publisher and admin tokens without exp, accepts an operator one', async () => {
    expect(await upgradeStatus(`${hub.wsUrl}?token=${await token('publisher', null)}`, 'hub.v1')).toBe(401);
    expect(await upgradeStatus(`${hub.wsUrl}?token=${await token('admin', null)}`, 'hub.v1')).toBe(401);
    const res = await fetch(`${hub.httpUrl}/api/topics`, { headers: { authorization: `Bearer ${await token('admin', null)}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/claim 'exp' is required for role admin \(JWT_REQUIRE_EXP=elevated\)/);
    expect(await upgradeStatus(`${hub.wsUrl}?token=${await token('operator', null)}`, 'hub.v1')).toBe(101);
    expect(await upgradeStatus(`${hub.wsUrl}?token=${await token('publisher', 60)}`, 'hub.v1')).toBe(101);
  });

  it('all refuses any token without exp; none accepts them', async () => {
    const all = await startHub(testConfig({ jwtSecret: SECRET, jwtRequireExp: 'all' }));
    const none = await startHub(testConfig({ jwtSecret: SECRET, jwtRequireExp: 'none' }));
    hubs.push(all, none);
    expect(await upgradeStatus(`${all.wsUrl}?token=${await token('viewer', null)}`)).toBe(401);
    expect(await upgradeStatus(`${none.wsUrl}?token=${await token('admin', null)}`)).toBe(101);
  });
});

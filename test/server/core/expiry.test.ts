/**
 * Credentials have a lifetime on open connections too: a connection whose JWT expires gets a
 * `token_expired` error and close 4001 (one DueQueue for all connections); `auth` with a fresh
 * token moves the expiry; JWT_REQUIRE_EXP refuses elevated tokens that never expire.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from 'hono/jwt';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { HubClient, type WebSocketLike } from '../../../client/hub-client.ts';
import WebSocket from 'ws';
import { openSocket, sleep, upgradeStatus, type TestSocket } from '../../support/ws-client.ts';

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

describe('credential expiry on open connections', () => {
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

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from 'hono/jwt';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSocket, upgradeStatus, type TestSocket } from '../../support/ws-client.ts';

const SECRET = 'a-very-long-jwt-secret-for-tests-0123456789';
const SCRIPT_KEY = 'script-key-0123456789';
let hub: RunningHub;
const sockets: TestSocket[] = [];

const jwt = (claims: Record<string, unknown>, secret = SECRET) =>
  sign({ exp: Math.floor(Date.now() / 1000) + 600, ...claims }, secret, 'HS256');

async function open(path: string, protocol?: string, headers: Record<string, string> = {}) {
  const s = await openSocket(`${hub.wsUrl}${path}`, protocol, { headers });
  sockets.push(s);
  return s;
}

beforeAll(async () => {
  hub = await startHub(
    testConfig({
      jwtSecret: SECRET,
      apiKeys: [{ key: SCRIPT_KEY, role: 'publisher', publish: ['orders.>'], name: 'script' }],
      anonymousRole: 'viewer',
      maxConnectionsPerIp: 1000,
    }),
  );
});
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await hub.close();
});

describe('roles', () => {
  it('viewer (anonymous here) may subscribe but not chat or publish', async () => {
    const line = await open('');
    await line.next((f) => f.startsWith('* welcome'));
    line.send('hello?');
    expect(await line.next((f) => f.startsWith('!'))).toBe('! role viewer may not chat (operator or above)');
    const app = await open('', 'hub.v1');
    expect(await app.nextJson()).toMatchObject({ op: 'welcome', role: 'viewer' });
    app.send({ op: 'sub', id: 1, topic: 'orders.*' });
    expect(await app.nextJson()).toMatchObject({ op: 'ok', id: 1 });
    app.send({ op: 'pub', id: 2, topic: 'chat', data: { text: 'hi' } });
    expect(await app.nextJson()).toMatchObject({ op: 'error', id: 2, code: 'forbidden' });
  });

  it('operator may chat; publisher only under its patterns; admin anywhere', async () => {
    const operator = await open(`?token=${await jwt({ role: 'operator', sub: 'olga' })}`, 'hub.v1');
    expect(await operator.nextJson()).toMatchObject({ role: 'operator' });
    operator.send({ op: 'pub', id: 1, topic: 'chat', data: { text: 'ops here' } });
    expect(await operator.nextJson()).toMatchObject({ op: 'ok', id: 1 });
    operator.send({ op: 'pub', id: 2, topic: 'orders.eu', data: 1 });
    expect(await operator.nextJson()).toMatchObject({ op: 'error', code: 'forbidden' });

    const publisher = await open(`?token=${await jwt({ role: 'publisher', publish: ['ticks.>'] })}`, 'hub.v1');
    await publisher.nextJson();
    publisher.send({ op: 'pub', id: 1, topic: 'ticks.AAPL', data: 1 });
    expect(await publisher.nextJson()).toMatchObject({ op: 'ok', id: 1 });
    publisher.send({ op: 'pub', id: 2, topic: 'orders.eu', data: 1 });
    expect(await publisher.nextJson()).toMatchObject({ op: 'error', id: 2, code: 'forbidden' });

    const admin = await open(`?token=${await jwt({ role: 'admin' })}`, 'hub.v1');
    await admin.nextJson();
    admin.send({ op: 'pub', id: 1, topic: 'anything.at.all', data: 1 });
    expect(await admin.nextJson()).toMatchObject({ op: 'ok', id: 1 });
  });

  it('static API keys carry their role and patterns, over WebSocket and HTTP', async () => {
    const res = await fetch(`${hub.httpUrl}/api/publish/orders.us`, { method: 'POST', headers: { authorization: `Bearer ${SCRIPT_KEY}`, 'content-type': 'application/json' }, body: '{"q":1}' });
    expect(res.status).toBe(200);
    const denied = await fetch(`${hub.httpUrl}/api/publish/ticks.X`, { method: 'POST', headers: { authorization: `Bearer ${SCRIPT_KEY}`, 'content-type': 'application/json' }, body: '1' });
    expect(denied.status).toBe(403);
    const app = await open('', 'hub.v1');
    await app.nextJson();
    app.send({ op: 'auth', id: 1, token: SCRIPT_KEY });
    expect(await app.nextJson()).toMatchObject({ op: 'ok', role: 'publisher' });
    app.send({ op: 'pub', id: 2, topic: 'orders.x', data: 1 });
    expect(await app.nextJson()).toMatchObject({ op: 'ok', id: 2 });
  });

  it('only admins list and disconnect connections', async () => {
    const victim = await open('/watch.me');
    const anon = await fetch(`${hub.httpUrl}/api/connections`);
    expect(anon.status).toBe(403);
    const adminToken = await jwt({ role: 'admin' });
    const list = (await (await fetch(`${hub.httpUrl}/api/connections`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { connections: any[] };
    const entry = list.connections.find((c) => c.subscriptions.includes('watch.me'));
    expect(entry).toMatchObject({ mode: 'tap', role: 'viewer', outboxBytes: 0 });
    const del = await fetch(`${hub.httpUrl}/api/connections/${entry.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    expect(del.status).toBe(200);
    expect(await victim.closed).toEqual({ code: 1008, reason: 'disconnected by an admin' });
    const viewerDel = await fetch(`${hub.httpUrl}/api/connections/${entry.id}`, { method: 'DELETE' });
    expect(viewerDel.status).toBe(403);
  });
});

describe('credentials', () => {
  it('refuses bad, expired, wrongly signed and alg=none tokens with 401 before any WebSocket', async () => {
    const expired = await sign({ role: 'admin', exp: Math.floor(Date.now() / 1000) - 10 }, SECRET, 'HS256');
    const wrongSecret = await jwt({ role: 'admin' }, 'another-secret-that-is-long-enough-000');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ role: 'admin', exp: 9_999_999_999 })).toString('base64url');
    const none = `${header}.${payload}.`;
    const badRole = await jwt({ role: 'root' });
    for (const token of ['nope', expired, wrongSecret, none, badRole]) {
      expect(await upgradeStatus(`${hub.wsUrl}?token=${encodeURIComponent(token)}`, 'hub.v1')).toBe(401);
    }
    expect((await fetch(`${hub.httpUrl}/api/topics`, { headers: { authorization: `Bearer ${none}` } })).status).toBe(401);
  });

  it('accepts a token from the tickhub_token cookie', async () => {
    const app = await open('', 'hub.v1', { cookie: `tickhub_token=${await jwt({ role: 'operator' })}` });
    expect(await app.nextJson()).toMatchObject({ role: 'operator' });
  });

  it('ANONYMOUS_ROLE=none refuses anonymous upgrades with 401 but keeps /healthz open', async () => {
    const closed = await startHub(testConfig({ anonymousRole: 'none' }));
    expect(await upgradeStatus(closed.wsUrl)).toBe(401);
    expect((await fetch(`${closed.httpUrl}/api/topics`)).status).toBe(401);
    expect((await fetch(`${closed.httpUrl}/healthz`)).status).toBe(200);
    await closed.close();
  });
});

describe('browser origins', () => {
  const withOrigin = (origin: string) =>
    new Promise<number>((resolve) => {
      import('ws').then(({ default: WebSocket }) => {
        const ws = new WebSocket(hub.wsUrl, { headers: { origin } });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          resolve(101);
          ws.close();
        });
        ws.on('error', () => {});
      });
    });

  it('allow the hub itself and the Vite dev server, refuse other sites with 403', async () => {
    expect(await withOrigin(hub.httpUrl)).toBe(101);
    expect(await withOrigin('http://localhost:5173')).toBe(101);
    expect(await withOrigin('https://evil.example')).toBe(403);
    expect(await withOrigin('null')).toBe(403);
  });

  it('the dashboard is served with a CSP that allows only its own origin', async () => {
    const res = await fetch(`${hub.httpUrl}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('upgrade refusals', () => {
  it('404 for unknown paths, 429 over the per-address connection limit', async () => {
    expect(await upgradeStatus(hub.wsUrl.replace('/ws', '/nowhere'))).toBe(404);
    const small = await startHub(testConfig({ maxConnectionsPerIp: 2 }));
    const a = await openSocket(small.wsUrl);
    const b = await openSocket(small.wsUrl);
    expect(await upgradeStatus(small.wsUrl)).toBe(429);
    a.close();
    await a.closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(await upgradeStatus(small.wsUrl)).toBe(101);
    b.close();
    await small.close();
  });
});

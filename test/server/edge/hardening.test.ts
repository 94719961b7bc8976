/**
 * Attacks on the edge and the socket layer, each against a real hub, each checking that a
 * well-behaved tap on the same hub keeps receiving every message promptly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sign } from 'hono/jwt';
import WebSocket from 'ws';
import { testConfig, type HubConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSocket, openTap, type TestSocket } from '../../support/ws-client.ts';
import { parseResponse, rawExchange, upgradeRequest } from '../../support/raw-http.ts';
import { until } from '../../support/until.ts';

const SECRET = 'edge-hardening-jwt-secret-0123456789abcdef';
const KEY = 'edge-hardening-publish-key';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function hub(overrides: Partial<HubConfig> = {}): Promise<RunningHub> {
  const running = await startHub(testConfig({ publishKey: KEY, jwtSecret: SECRET, ...overrides }));
  cleanups.push(() => running.close());
  return running;
}

/** A socket closed after the test; a tap's (`/ws/<patterns>`) welcome is awaited and kept apart. */
async function socket(url: string, protocol?: string, options = {}): Promise<TestSocket> {
  const s = !protocol && new URL(url).pathname.startsWith('/ws/') ? await openTap(url, options) : await openSocket(url, protocol, options);
  cleanups.push(() => s.ws.terminate());
  return s;
}

/** A tap from `localAddress` that must see `count` messages published now, within `ms`. */
async function expectTapReceives(tap: TestSocket, publish: (i: number) => unknown, count = 20, ms = 1000): Promise<void> {
  const before = tap.frames.length;
  const started = performance.now();
  for (let i = 0; i < count; i++) await publish(i);
  await until('the tap to receive every message', () => tap.frames.slice(before).filter((f) => f.includes('"probe"')).length >= count, ms * 5);
  expect(performance.now() - started).toBeLessThan(ms);
}

const probe = (running: RunningHub) => (i: number) => running.hub.publish('ticks.probe', { probe: i });
const tapOf = (running: RunningHub, localAddress = '127.0.0.9') => socket(`${running.wsUrl}/ticks.probe`, undefined, { localAddress });

describe('sockets per address (MAX_SOCKETS_PER_IP)', () => {
  it('refuses idle TCP sockets over the limit with a 429 JSON body at accept, and serves again when they go', async () => {
    const running = await hub({ maxSocketsPerIp: 5 });
    const tap = await tapOf(running);
    const idle: net.Socket[] = [];
    for (let i = 0; i < 5; i++) {
      const s = net.connect(running.port, '127.0.0.1');
      s.on('error', () => {});
      idle.push(s);
      cleanups.push(() => s.destroy());
      await new Promise((r) => s.once('connect', r));
    }
    const over = await rawExchange(running.port, '');
    const { status, body } = parseResponse(over.response);
    expect(status).toBe(429);
    expect(JSON.parse(body)).toEqual({ error: { code: 'too_many_connections', message: 'at most 5 open sockets per address (MAX_SOCKETS_PER_IP)' } });
    await expectTapReceives(tap, probe(running));
    for (const s of idle) s.destroy();
    await until('a new socket to be served', async () => (await fetch(`${running.httpUrl}/healthz`).catch(() => null))?.status === 200);
  });
});

describe('descriptor exhaustion', () => {
  it('a hub under ulimit -n 256 survives 320 idle sockets from 4 addresses, keeps serving its tap, and recovers', async () => {
    const child: ChildProcess = spawn('bash', ['-c', 'ulimit -n 256 && exec node --import tsx server/main.ts'], {
      env: { ...process.env, PORT: '0', HUB_PUBLISH_KEY: KEY, LOG_LEVEL: 'info', HEARTBEAT_MS: '60000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    await until('the child to listen', () => /tickhub listening/.test(log), 15_000);
    const port = Number(/"http":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(log)![1]);
    const tap = await socket(`ws://127.0.0.1:${port}/ws/ticks.probe,$sys.stats`, undefined, { localAddress: '127.0.0.9' });
    const publisher = await socket(`ws://127.0.0.1:${port}/ws?token=${KEY}`, 'hub.v1', { localAddress: '127.0.0.9' });
    await publisher.nextJson((f) => f.op === 'welcome');

    const flood: net.Socket[] = [];
    for (let i = 0; i < 320; i++) {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 4)}` });
      s.on('error', () => {});
      flood.push(s);
    }
    cleanups.push(() => flood.forEach((s) => s.destroy()));
    await until('the hub to drop sockets over MAX_SOCKETS', () => /MAX_SOCKETS open sockets reached/.test(log), 10_000);
    // A telemetry tick (where EMFILE used to kill the process) runs with the hub saturated.
    const stats = tap.frames.length;
    await until('a $sys.stats tick under saturation', () => tap.frames.slice(stats).some((f) => f.includes('"$sys.stats"')), 5000);
    expect(child.exitCode).toBeNull();
    await expectTapReceives(tap, (i) => publisher.send({ op: 'pub', id: i, topic: 'ticks.probe', data: { probe: i } }));

    for (const s of flood) s.destroy();
    await until('new clients to be served', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status === 200, 10_000);
    const fresh = await socket(`ws://127.0.0.1:${port}/ws/ticks.probe`);
    publisher.send({ op: 'pub', id: 'after', topic: 'ticks.probe', data: { probe: 'after' } });
    expect(await fresh.next((f) => f.includes('after'))).toContain('"probe":"after"');
    expect(child.exitCode).toBeNull();
    expect(log).not.toMatch(/EMFILE/);
  }, 40_000);
});

describe('WebSocket per-address limit (MAX_CONNECTIONS_PER_IP)', () => {
  it('300 parallel upgrades with a valid JWT against a limit of 10 open exactly 10', async () => {
    const running = await hub({ maxConnectionsPerIp: 10 });
    const tap = await tapOf(running);
    const token = await sign({ role: 'viewer', exp: Math.floor(Date.now() / 1000) + 600 }, SECRET, 'HS256');
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, () =>
        openTap(`${running.wsUrl}/ticks.probe?token=${token}`).then(
          (s) => (cleanups.push(() => s.ws.terminate()), 'open'),
          (err: Error) => (/429/.test(err.message) ? '429' : err.message),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(10);
    expect(outcomes.filter((o) => o === '429')).toHaveLength(290);
    await expectTapReceives(tap, probe(running));
  });
});

describe('hosts and origins', () => {
  it('refuses DNS rebinding (a foreign Host) with 403 naming ALLOWED_HOSTS, on upgrades and HTTP', async () => {
    const running = await hub({ allowedHosts: ['hub.example'] });
    const tap = await tapOf(running);
    const upgrade = parseResponse((await rawExchange(running.port, upgradeRequest('/ws', 'evil.example', { Origin: 'http://evil.example' }))).response);
    expect(upgrade.status).toBe(403);
    expect(JSON.parse(upgrade.body).error).toEqual({ code: 'forbidden', message: 'host evil.example is not served here (ALLOWED_HOSTS or PUBLIC_URL)' });
    const plain = parseResponse((await rawExchange(running.port, 'GET /api/topics HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n')).response);
    expect(plain.status).toBe(403);
    for (const host of ['hub.example', 'localhost:5000', 'app.localhost', '[::1]:80', '10.1.2.3']) {
      expect(parseResponse((await rawExchange(running.port, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).response).status).toBe(200);
    }
    await expectTapReceives(tap, probe(running));
  });

  it('same origin means same scheme too: https:// of the hub host and non-http origins are refused', async () => {
    const running = await hub();
    const host = `127.0.0.1:${running.port}`;
    const statusWith = async (origin: string) => parseResponse((await rawExchange(running.port, upgradeRequest('/ws', host, { Origin: origin }))).response).status;
    expect(await statusWith(`https://${host}`)).toBe(403);
    expect(await statusWith(`ftp://${host}`)).toBe(403);
    const same = await socket(running.wsUrl, undefined, { headers: { origin: `http://${host}` } });
    expect(await same.next((f) => f.startsWith('* welcome'))).toBeTruthy();
  });
});

describe('cross-site publishing', () => {
  it('refuses foreign origins, cross-site fetches and CORS-simple bodies; JSON from scripts still publishes', async () => {
    const running = await hub();
    const tap = await socket(`${running.wsUrl}/ticks.AAPL`, undefined, { localAddress: '127.0.0.9' });
    const post = (headers: Record<string, string>, body = '{"px":1}') =>
      fetch(`${running.httpUrl}/api/publish/ticks.AAPL`, { method: 'POST', headers: { cookie: `tickhub_token=${KEY}`, ...headers }, body });
    const refused: Array<[Record<string, string>, number, string]> = [
      [
        { origin: 'https://evil.example', 'content-type': 'application/json' },
        403,
        `origin https://evil.example is not allowed: the hub's own origin here is ${running.httpUrl}; set PUBLIC_URL or TRUSTED_PROXIES if the hub is behind a proxy, or list the origin in ALLOWED_ORIGINS`,
      ],
      [{ 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }, 403, 'cross-site request without an allowed Origin (ALLOWED_ORIGINS)'],
      [{ 'content-type': 'text/plain;charset=UTF-8' }, 415, 'content-type text/plain;charset=UTF-8 is not accepted: send content-type: application/json'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 415, 'content-type application/x-www-form-urlencoded is not accepted: send content-type: application/json'],
      [{ 'content-type': 'multipart/form-data; boundary=x' }, 415, 'content-type multipart/form-data; boundary=x is not accepted: send content-type: application/json'],
    ];
    for (const [headers, status, message] of refused) {
      const res = await post(headers);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(message);
    }
    const ok = await post({ 'content-type': 'application/json', origin: 'http://localhost:5173' }, '{"px":2}');
    expect(ok.status).toBe(200);
    const curlLike = parseResponse(
      (await rawExchange(running.port, `POST /api/publish/ticks.AAPL HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{"px":3}`)).response,
    );
    expect(curlLike.status).toBe(200);
    await until('both accepted messages', () => tap.frames.length >= 2);
    expect(tap.frames.map((f) => JSON.parse(f).data.px)).toEqual([2, 3]);
  });
});

describe('upgrade responses', () => {
  it('every refused upgrade carries its JSON error body', async () => {
    const running = await hub({ anonymousRole: 'viewer', maxConnectionsPerIp: 1 });
    const host = `127.0.0.1:${running.port}`;
    const refusal = async (request: string) => parseResponse((await rawExchange(running.port, request)).response);
    const cases: Array<[string, number, string]> = [
      [upgradeRequest('/ws/bad..pattern', host), 400, 'bad_topic'],
      [upgradeRequest('/ws?token=nope', host), 401, 'unauthorized'],
      [upgradeRequest('/ws', host, { Origin: 'https://evil.example' }), 403, 'forbidden'],
    ];
    for (const [request, status, code] of cases) {
      const { status: got, body, headers } = await refusal(request);
      expect(got).toBe(status);
      expect(JSON.parse(body).error.code).toBe(code);
      expect(headers).toMatch(/content-type: application\/json/i);
    }
    const plain = await refusal(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(plain.status).toBe(426);
    expect(plain.body).toContain('wscat -c');
    const held = await socket(running.wsUrl);
    const over = await refusal(upgradeRequest('/ws', host));
    expect(over.status).toBe(429);
    expect(JSON.parse(over.body).error).toEqual({ code: 'too_many_connections', message: 'at most 1 connections per address (MAX_CONNECTIONS_PER_IP)' });
    expect(await held.next((f) => f.startsWith('* welcome'))).toBeTruthy();
  });

  it('an upgrade to anything but a WebSocket is answered 400 and closed, not left hanging', async () => {
    const running = await hub();
    const host = `127.0.0.1:${running.port}`;
    const h2c = `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`;
    const { response, ms } = await rawExchange(running.port, h2c, { timeoutMs: 2000 });
    const { status, body } = parseResponse(response);
    expect(status).toBe(400);
    expect(JSON.parse(body).error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/only WebSocket upgrades.*--http1.1/) });
    expect(ms).toBeLessThan(1000);
    // WebSocket refusals the app does not route still get their answer (404 with its body).
    const missing = parseResponse((await rawExchange(running.port, upgradeRequest('/nowhere', host), { timeoutMs: 2000 })).response);
    expect(missing.status).toBe(404);
  });

  it('security headers are skipped only for accepted /ws handshakes, not for GET / with Upgrade', async () => {
    const running = await hub();
    const host = `127.0.0.1:${running.port}`;
    const root = parseResponse((await rawExchange(running.port, upgradeRequest('/', host))).response);
    expect(root.headers).toMatch(/content-security-policy: .*connect-src 'self'/i);
    expect(root.headers).toMatch(/x-content-type-options: nosniff/i);
    const refused = parseResponse((await rawExchange(running.port, upgradeRequest('/ws?token=nope', host))).response);
    expect(refused.headers).toMatch(/x-content-type-options: nosniff/i);
    const ws = new WebSocket(`${running.wsUrl}/ticks.probe`);
    cleanups.push(() => ws.terminate());
    const upgrade = await new Promise<string>((resolve) => ws.once('upgrade', (res) => resolve(JSON.stringify(res.headers))));
    expect(upgrade).not.toMatch(/content-security-policy/i);
  });
});

describe('slow clients (HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS)', () => {
  it('half-sent headers and a trickled body are cut off within their bounds; a tap is unaffected', async () => {
    const running = await hub({ headersTimeoutMs: 400, requestTimeoutMs: 800 });
    const tap = await tapOf(running);
    const [headers, body] = await Promise.all([
      rawExchange(running.port, ['GET /api/topics HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n'], { gapMs: 100 }),
      rawExchange(
        running.port,
        [`POST /api/publish/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`, ...Array.from({ length: 60 }, () => ' ')],
        { gapMs: 100 },
      ),
    ]);
    expect(headers.ms).toBeLessThan(400 + 600);
    expect(parseResponse(headers.response).status).toBe(408);
    expect(body.ms).toBeLessThan(800 + 600);
    expect(parseResponse(body.response).status).toBe(408);
    // The tap has now been open longer than both bounds and still receives everything.
    await expectTapReceives(tap, probe(running));
  });
});

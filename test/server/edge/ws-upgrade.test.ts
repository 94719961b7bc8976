/**
 * The WebSocket upgrade route on the raw node request: every refusal exactly as the Hono path
 * answered it (status line, security headers in Headers' order, JSON body, framing), one answer
 * per upgrade whatever the path (404 off the WebSocket routes), a frame pipelined behind the handshake, a client that leaves
 * mid-admission (its slot comes back), and TLS. Real hubs, raw sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import net from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { loadConfig, testConfig, type HubConfig } from '../../../server/config.ts';
import { createAuthenticator } from '../../../server/edge/credentials.ts';
import { upgradeUrl } from '../../../server/edge/ws-upgrade.ts';
import { perTestHubs } from '../../support/per-test-hubs.ts';
import { maskedFrame, openRawSocket } from '../../support/raw-socket.ts';
import { rawExchange, upgradeRequest } from '../../support/raw-http.ts';
import { certDir, makeCertPair } from '../../support/tls-certs.ts';
import { until } from '../../support/until.ts';
import { openSocket, openTap } from '../../support/ws-client.ts';
import { startHub } from '../../../server/server.ts';

const defaults: Partial<HubConfig> = {
  allowedHosts: ['hub.example.com'],
  allowedOrigins: ['https://app.example.com'],
  maxConnectionsPerIp: 2,
  maxSubscriptionsPerConnection: 2,
  anonymousRole: 'viewer',
};
const { hub, cleanups } = perTestHubs(defaults);

/** The security headers as the Hono path sent them on a refused upgrade (Headers' order). */
const SECURITY = [
  "content-security-policy: default-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'self'",
  'content-type: application/json',
  'cross-origin-opener-policy: same-origin',
  'cross-origin-resource-policy: same-origin',
  'origin-agent-cluster: ?1',
  'referrer-policy: no-referrer',
  'x-content-type-options: nosniff',
  'x-dns-prefetch-control: off',
  'x-download-options: noopen',
  'x-frame-options: SAMEORIGIN',
  'x-permitted-cross-domain-policies: none',
  'x-xss-protection: 0',
];
const HSTS = 'strict-transport-security: max-age=15552000; includeSubDomains';
const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' };

/** The whole refusal, byte for byte, as the Hono path wrote it before the route existed. */
function refusal(status: number, code: string, message: string, tls = false): string {
  const headers = tls ? [...SECURITY.slice(0, 6), HSTS, ...SECURITY.slice(6)] : SECURITY;
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${REASONS[status]}\r\n${headers.join('\r\n')}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** Everything the hub sent until it closed. */
const exchange = async (port: number, request: string) => (await rawExchange(port, request, { timeoutMs: 3000 })).response;

/** `exchange` over TLS, trusting `ca`. */
function tlsExchange(port: number, ca: Buffer, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', ca }, () => socket.write(request));
    let response = '';
    socket.on('data', (d) => (response += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(response));
  });
}

const unauthorized = async (config: HubConfig, token: string) => {
  const r = await createAuthenticator(config).authenticate(token);
  if (r.ok) throw new Error('accepted');
  return r.reason;
};

describe('WebSocket upgrade route', () => {
  it('answers each refusal byte for byte as before: host, patterns, query, origin, credentials, limit, draining', async () => {
    const running = await hub();
    const { port } = running;
    const host = `127.0.0.1:${port}`;
    const nope = await unauthorized(testConfig(defaults), 'nope');
    const cases: Array<[string, string]> = [
      [upgradeRequest('/ws', 'evil.example'), refusal(403, 'forbidden', 'host evil.example is not served here (ALLOWED_HOSTS or PUBLIC_URL)')],
      // The host is judged before the route: a bad tap on a foreign host is refused for its host.
      [upgradeRequest('/ws/bad..x', 'evil.example'), refusal(403, 'forbidden', 'host evil.example is not served here (ALLOWED_HOSTS or PUBLIC_URL)')],
      [upgradeRequest('/ws/bad..pattern', host), refusal(400, 'bad_topic', 'bad..pattern: empty token in topic')],
      [upgradeRequest('/ws/a,b,c', host), refusal(400, 'too_many_subscriptions', 'at most 2 patterns (MAX_SUBSCRIPTIONS)')],
      [upgradeRequest('/ws/t?since=1&since=2', host), refusal(400, 'bad_request', "'since' given more than once")],
      [
        upgradeRequest('/ws', host, { Origin: 'https://evil.example' }),
        refusal(403, 'forbidden', `origin https://evil.example is not allowed: the hub's own origin here is http://${host}; set PUBLIC_URL or TRUSTED_PROXIES if the hub is behind a proxy, or list the origin in ALLOWED_ORIGINS`),
      ],
      [upgradeRequest('/ws?token=nope', host), refusal(401, 'unauthorized', nope)],
      [upgradeRequest('/ws', host, { Authorization: 'Bearer nope' }), refusal(401, 'unauthorized', nope)],
      [upgradeRequest('/ws', host, { Cookie: 'a=1; tickhub_token=nope' }), refusal(401, 'unauthorized', nope)],
      [upgradeRequest('/ws', 'x@127.0.0.1'), refusal(400, 'bad_request', 'the request target or the Host header is malformed')],
    ];
    for (const [request, expected] of cases) expect(await exchange(port, request)).toBe(expected);

    const held = [await openTap(`${running.wsUrl}/t`), await openTap(`${running.wsUrl}/t`)];
    cleanups.push(() => held.forEach((t) => t.ws.terminate()));
    expect(await exchange(port, upgradeRequest('/ws', host))).toBe(refusal(429, 'too_many_connections', 'at most 2 connections per address (MAX_CONNECTIONS_PER_IP)'));
    running.hub.startDraining();
    expect(await exchange(port, upgradeRequest('/ws', host))).toBe(refusal(503, 'unavailable', 'this node is draining for a restart; connect to another node'));
  });

  it('routes as Hono would (encoded and odd targets), and refuses every other path with 404: one answer each', async () => {
    const running = await hub({ maxConnectionsPerIp: 10 });
    const host = `127.0.0.1:${running.port}`;
    const opened = async (target: string, extra: Record<string, string> = {}) => {
      const response = await new Promise<string>((resolve) => {
        const socket = net.connect(running.port, '127.0.0.1', () => socket.write(upgradeRequest(target, host, extra)));
        let got = '';
        socket.on('data', (d) => {
          got += d;
          if (got.includes('\r\n\r\n')) (socket.destroy(), resolve(got));
        });
      });
      return response.split('\r\n')[0];
    };
    for (const target of ['/ws', '/w%73', '/x/../ws', '/ws#x', '/ws/ticks.%3E', '/ws/a%2Cb', `http://${host}/ws`]) expect(await opened(target), target).toBe('HTTP/1.1 101 Switching Protocols');
    // Not a WebSocket route, an HTTP or an SSE one included: 404 naming the WebSocket paths, once
    // (through the app, an SSE stream used to be followed by a second response, an API route
    // answered 200 with no body).
    for (const [target, path] of [['/nowhere', '/nowhere'], ['/ws/', '/ws/'], ['/ws/a%0Ab', '/ws/a\nb'], ['/sse/ticks.*', '/sse/ticks.*'], ['/api/topics?limit=1', '/api/topics'], ['/healthz', '/healthz']]) {
      const response = await exchange(running.port, upgradeRequest(target, host));
      expect(response.match(/HTTP\/1\.1 /g), target).toHaveLength(1);
      expect(response, target).toBe(refusal(404, 'not_found', `WebSocket upgrades are served on /ws and /ws/<patterns>, not on '${path}'`));
    }
    // A refused WebSocket upgrade is answered once, too (node-server does not add its own).
    expect((await exchange(running.port, upgradeRequest('/ws?token=nope', host))).match(/HTTP\/1\.1 /g)).toHaveLength(1);
    // node-server's Request was a GET whatever the method; `ws` then refuses it.
    expect(await exchange(running.port, upgradeRequest('/ws', host).replace(/^GET/, 'POST'))).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(running.hub.connections.size).toBeLessThanOrEqual(7);
  });

  it('answers a frame pipelined behind the handshake, in app mode and in line mode', async () => {
    const running = await hub();
    const raw = await openRawSocket(running.wsUrl, 'hub.v1', maskedFrame(0x1, Buffer.from('{"op":"ping","id":"first"}')));
    cleanups.push(() => raw.socket.destroy());
    await until('welcome and the ping answered', () => raw.frames.filter((f) => f.opcode === 0x1).length >= 2, 2000);
    const replies = raw.frames.filter((f) => f.opcode === 0x1).map((f) => JSON.parse(f.payload.toString()));
    expect(replies.map((r) => [r.op, r.id])).toEqual([['welcome', undefined], ['ok', 'first']]);
    const line = await openRawSocket(running.wsUrl, undefined, maskedFrame(0x1, Buffer.from('/help')));
    cleanups.push(() => line.socket.destroy());
    await until('the line answered', () => line.frames.filter((f) => f.opcode === 0x1).length >= 2, 2000);
  });

  it('a client that leaves while its credential is verified costs nothing: no connection, its slot released', async () => {
    const { publicKey, privateKey } = (await generateKeyPair('ES256', { extractable: true })) as { publicKey: CryptoKey; privateKey: CryptoKey };
    const key = { ...(await exportJWK(publicKey)), kid: 'slow-1', alg: 'ES256' };
    let fetched = 0;
    const jwks: Server = createServer((_req: IncomingMessage, res) => {
      fetched++;
      setTimeout(() => res.end(JSON.stringify({ keys: [key] })), 300); // a slow identity provider
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => (jwks.closeAllConnections(), jwks.close(() => resolve()))));
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'silent', JWT_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json` });
    const running = await startHub({ ...config, ...defaults });
    cleanups.push(() => running.close());
    const token = await new SignJWT({ role: 'viewer', sub: 'leaver', exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: 'slow-1' }).sign(privateKey);
    const host = `127.0.0.1:${running.port}`;
    const leavers = [1, 2].map(() => net.connect(running.port, '127.0.0.1', function (this: net.Socket) {
      this.write(upgradeRequest(`/ws/t?token=${token}`, host));
    }));
    for (const s of leavers) s.on('error', () => {});
    await until('the JWKS asked', () => fetched > 0, 2000);
    for (const s of leavers) s.destroy(); // before the key arrives: admission is mid-await
    await new Promise((r) => setTimeout(r, 500)); // the key arrived, admission resolved, nobody to answer
    expect(running.hub.connections.size).toBe(0);
    // Both slots came back: MAX_CONNECTIONS_PER_IP (2) clients open again, with the same token.
    const taps = [await openTap(`${running.wsUrl}/t?token=${token}`), await openTap(`${running.wsUrl}/t?token=${token}`)];
    cleanups.push(() => taps.forEach((t) => t.ws.terminate()));
    expect(running.hub.connections.size).toBe(2);
  });

  describe('over TLS', () => {
    const dir = certDir();
    afterAll(() => dir.remove());
    let pair: ReturnType<typeof makeCertPair>;
    beforeAll(() => {
      pair = makeCertPair(dir.dir, 'hub');
    });

    it('opens wss:// sockets and refuses with HSTS', async () => {
      const running = await hub({ tlsCertFile: pair.certFile, tlsKeyFile: pair.keyFile });
      const app = await openSocket(running.wsUrl, 'hub.v1', { ca: pair.cert });
      cleanups.push(() => app.ws.terminate());
      expect(await app.nextJson((f) => f.op === 'welcome')).toMatchObject({ role: 'viewer' });
      const tap = await openTap(`${running.wsUrl}/ticks.>`, { ca: pair.cert });
      cleanups.push(() => tap.ws.terminate());
      expect(await tlsExchange(running.port, pair.cert, upgradeRequest('/ws/bad..x', `127.0.0.1:${running.port}`))).toBe(refusal(400, 'bad_topic', 'bad..x: empty token in topic', true));
    });
  });
});

describe('upgradeUrl', () => {
  const req = (url: string, host: string | undefined, encrypted = false) => ({ url, headers: host === undefined ? {} : { host }, socket: { encrypted } }) as unknown as IncomingMessage;

  it('is the URL node-server gave the app: as sent when plain, normalised otherwise, null where node-server threw', () => {
    expect(upgradeUrl(req('/ws/t?since=1', 'hub:8080'))).toBe('http://hub:8080/ws/t?since=1');
    expect(upgradeUrl(req('/ws', 'hub', true))).toBe('https://hub/ws');
    expect(upgradeUrl(req('/x/../ws/%3E', 'hub'))).toBe('http://hub/ws/%3E');
    expect(upgradeUrl(req('/ws', 'HUB.example'))).toBe('http://hub.example/ws');
    expect(upgradeUrl(req('/ws', undefined))).toBe('http://localhost/ws');
    expect(upgradeUrl(req('http://other/ws', 'hub'))).toBe('http://other/ws');
    expect(upgradeUrl(req('/ws\\x', 'hub'))).toBeNull();
    expect(upgradeUrl(req('/ws?q=\\', 'hub:8080'))).toBe('http://hub:8080/ws?q=\\');
    expect(upgradeUrl(req('/ws', 'x@hub'))).toBeNull();
    expect(upgradeUrl(req('*', 'hub'))).toBeNull();
  });
});

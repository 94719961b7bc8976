/**
 * The lean publish path answers byte for byte as the Hono routes do: the same status line,
 * headers (names, values, order) and body, compared over raw sockets with a Hono-routed twin of
 * each request (the encoded path `p%2Ea` is the same topic, and the lean path leaves it to Hono).
 */
import { sign } from 'hono/jwt';
import { describe, expect, it } from 'vitest';
import type { RunningHub } from '../../../server/server.ts';
import { rawExchange, rawResponse } from '../../support/raw-http.ts';
import { perTestHubs } from '../../support/per-test-hubs.ts';

const KEY = 'http-publish-route-key';
const { hub, cleanups } = perTestHubs({ publishKey: KEY });

/** A raw POST; `headers` are whole lines. */
const post = (path: string, body: string, headers = `Authorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n`, host = 'localhost') =>
  `POST ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

/** The response with its Date line and the message timestamp blanked (they differ between two requests). */
async function exchange(running: RunningHub, request: string): Promise<string> {
  return (await rawResponse(running.port, request)).replace(/^date: .*\r\n/im, '').replace(/"ts":\d+/, '"ts":0');
}

/** The same request to the lean path and to the Hono route: [lean, hono]. */
async function twins(running: RunningHub, topic: string, body: string, headers?: string, host?: string): Promise<[string, string]> {
  const lean = await exchange(running, post(`/api/publish/${topic}`, body, headers, host));
  const hono = await exchange(running, post(`/api/publish/${topic.replace('.', '%2E')}`, body, headers, host));
  return [lean, hono.replace(/"seq":\d+/, lean.match(/"seq":\d+/)?.[0] ?? '')];
}

describe('the lean publish path', () => {
  it('answers a publish, a refusal and a 429 exactly as the Hono route does', async () => {
    const running = await hub({ rateLimitPerSecond: 1, rateLimitBurst: 1 });
    const [ok, okHono] = await twins(running, 'p.a', '{"x":1}');
    expect(ok).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(ok).toContain('\r\ncontent-type: application/json\r\n');
    expect(ok).toContain('\r\nx-frame-options: SAMEORIGIN\r\n');
    expect(ok).toBe(okHono);
    const [bad, badHono] = await twins(running, 'p.a', '{x');
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(bad).toBe(badHono);
    // Anonymous (a viewer): the rate is spent before the topic is judged, so the second is a 429.
    const slow = 'Content-Type: application/json\r\n';
    expect(await exchange(running, post('/api/publish/p.a', '1', slow))).toMatch(/^HTTP\/1\.1 401 [^]*send Authorization: Bearer <key>/);
    const limited = await exchange(running, post('/api/publish/p.a', '2', slow));
    const limitedHono = await exchange(running, post('/api/publish/p%2Ea', '3', slow));
    expect(limited).toMatch(/^HTTP\/1\.1 429 [^]*\r\nretry-after: 1\r\n/);
    expect(limited).toBe(limitedHono);
  });

  it('sends HSTS when PUBLIC_URL is https, like every other response', async () => {
    const running = await hub({ publicUrl: 'https://hub.example.com' });
    const [ok, okHono] = await twins(running, 'p.a', '1', undefined, 'hub.example.com');
    expect(ok).toContain('\r\nstrict-transport-security: max-age=15552000; includeSubDomains\r\n');
    expect(ok).toBe(okHono);
  });

  it('reads duplicated headers as Fetch does: two Authorization lines are one invalid credential', async () => {
    const running = await hub();
    const twice = `Authorization: Bearer ${KEY}\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n`;
    const [lean, hono] = await twins(running, 'p.a', '1', twice);
    expect(lean).toMatch(/^HTTP\/1\.1 401 [^]*"message":"invalid token"/);
    expect(lean).toBe(hono);
  });

  it('answers pipelined requests in order: a refusal decided at once waits behind a publish still verifying its JWT', async () => {
    const running = await hub({ jwtSecret: 'pipelined-secret' });
    const jwt = await sign({ role: 'publisher', publish: ['p.>'], exp: Math.floor(Date.now() / 1000) + 60 }, 'pipelined-secret', 'HS256');
    const first = `POST /api/publish/p.a HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${jwt}\r\nContent-Length: 7\r\n\r\n{"a":1}`;
    const second = `POST /api/publish/p.a HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong\r\nContent-Length: 1\r\nConnection: close\r\n\r\n1`;
    const { response } = await rawExchange(running.port, first + second);
    expect(response.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 401']);
    expect(response).toMatch(/\{"topic":"p\.a","seq":1,"ts":\d+\}HTTP\/1\.1 401/);
  });

  it('leaves a foreign Host to the Host check (403 ALLOWED_HOSTS) and a trailing slash to the router (404)', async () => {
    const running = await hub();
    expect(await exchange(running, post('/api/publish/p.a', '1', undefined, 'evil.example'))).toMatch(/^HTTP\/1\.1 403 [^]*host evil\.example is not served here/);
    expect(await exchange(running, post('/api/publish/', '1'))).toMatch(/^HTTP\/1\.1 404 /);
  });
});

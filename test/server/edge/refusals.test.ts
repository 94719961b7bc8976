/**
 * Every admission refusal is logged once at warn with the client address, status, code and the
 * setting to change; a flood of them costs one line per setting. Real hub, capturing logger.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { parseResponse, rawResponse, upgradeRequest } from '../../support/raw-http.ts';
import { until } from '../../support/until.ts';
import { openSocket } from '../../support/ws-client.ts';

const KEY = 'refusals-test-publish-key';
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

type Line = Record<string, unknown> & { msg: string; level: number };

/** A hub behind a trusted 127.0.0.1 "proxy" whose warn lines land in `lines`. */
async function loggedHub(): Promise<{ running: RunningHub; lines: Line[] }> {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const text of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  const running = await startHub(testConfig({ publishKey: KEY, trustedProxies: ['127.0.0.1'], maxConnectionsPerIp: 1, publisherRateLimitPerSecond: 1 }), { log: pino({ level: 'warn' }, sink) });
  cleanups.push(() => running.close());
  return { running, lines };
}

const refusalsIn = (lines: Line[]) => lines.filter((l) => l.msg.startsWith('refused: '));

/** Send a raw request and return its status. */
async function statusOf(running: RunningHub, request: string): Promise<number> {
  return parseResponse(await rawResponse(running.port, request)).status;
}

/** A raw HTTP/1.1 request from a forwarded client. */
const request = (method: string, path: string, host: string, client: string, extra = '', body = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${client}\r\n${extra}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;

const fields = (l: Line) => ({ level: l.level, remote: l.remote, peer: l.peer, status: l.status, code: l.code, setting: l.setting });

describe('createRefusals', () => {
  it('logs each refused upgrade and HTTP request at warn with address, status, code and setting', async () => {
    const { running, lines } = await loggedHub();
    const host = `127.0.0.1:${running.port}`;
    expect(await statusOf(running, upgradeRequest('/ws', host, { 'X-Forwarded-For': '198.51.100.1', Origin: 'https://evil.example' }))).toBe(403);
    expect(await statusOf(running, request('GET', '/api/topics', 'evil.example', '198.51.100.2'))).toBe(403);
    expect(await statusOf(running, request('GET', '/api/topics', host, '198.51.100.3', 'Authorization: Bearer wrong-key\r\n'))).toBe(401);
    const held = await openSocket(running.wsUrl, undefined, { headers: { 'x-forwarded-for': '198.51.100.4' } });
    cleanups.push(() => held.ws.terminate());
    expect(await statusOf(running, upgradeRequest('/ws', host, { 'X-Forwarded-For': '198.51.100.4' }))).toBe(429);
    const publish = () => request('POST', '/api/publish/x', host, '198.51.100.5', `Authorization: Bearer ${KEY}\r\n`, '{}');
    expect(await statusOf(running, publish())).toBe(200);
    expect(await statusOf(running, publish())).toBe(429);
    await until('five refusals logged', () => refusalsIn(lines).length === 5);
    expect(refusalsIn(lines).map(fields)).toEqual([
      { level: 40, remote: '198.51.100.1', peer: '127.0.0.1', status: 403, code: 'forbidden', setting: 'ALLOWED_ORIGINS' },
      { level: 40, remote: '198.51.100.2', peer: '127.0.0.1', status: 403, code: 'forbidden', setting: 'ALLOWED_HOSTS' },
      { level: 40, remote: '198.51.100.3', peer: '127.0.0.1', status: 401, code: 'unauthorized', setting: 'HUB_PUBLISH_KEY, API_KEYS or JWT_SECRET' },
      { level: 40, remote: '198.51.100.4', peer: '127.0.0.1', status: 429, code: 'too_many_connections', setting: 'MAX_CONNECTIONS_PER_IP' },
      { level: 40, remote: '198.51.100.5', peer: '127.0.0.1', status: 429, code: 'rate_limited', setting: 'PUBLISHER_RATE_LIMIT' },
    ]);
    expect(refusalsIn(lines)[0].msg).toMatch(/^refused: origin https:\/\/evil\.example is not allowed: .*PUBLIC_URL.*ALLOWED_ORIGINS/);
    expect(refusalsIn(lines)[3].msg).toBe('refused: at most 1 connections per address (MAX_CONNECTIONS_PER_IP)');
  });

  it('a flood of refusals costs one line per setting', async () => {
    const { running, lines } = await loggedHub();
    const host = `127.0.0.1:${running.port}`;
    for (let i = 0; i < 40; i++) {
      expect(await statusOf(running, upgradeRequest('/ws', host, { 'X-Forwarded-For': `198.51.100.${i}`, Origin: 'https://evil.example' }))).toBe(403);
      expect(await statusOf(running, request('POST', '/api/publish/x', host, `198.51.100.${i}`, 'Origin: https://evil.example\r\n', '{}'))).toBe(403);
      expect(await statusOf(running, request('GET', '/healthz', 'evil.example', `198.51.100.${i}`))).toBe(403);
    }
    expect(refusalsIn(lines).map((l) => l.setting)).toEqual(['ALLOWED_ORIGINS', 'ALLOWED_HOSTS']);
    expect(await statusOf(running, request('GET', '/healthz', host, '198.51.100.1'))).toBe(200);
  });
});

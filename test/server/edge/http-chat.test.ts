/**
 * Chat for clients without WebSockets (an SSE dashboard): `POST /api/publish/chat` applies the
 * line-mode chat rule (protocol/chat.ts via ChatService), reaches line-mode and SSE readers, is
 * allowed to exactly the callers who may chat over a WebSocket (ANONYMOUS_ROLE operator: yes;
 * viewer: neither way), and is rate-limited per client address (RATE_LIMIT).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { testConfig, type HubConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { openSse, type SseStream } from '../../support/sse-client.ts';
import { openSocket, type TestSocket } from '../../support/ws-client.ts';

const hubs: RunningHub[] = [];
const sockets: TestSocket[] = [];
const streams: SseStream[] = [];

async function start(overrides: Partial<HubConfig> = {}): Promise<RunningHub> {
  const h = await startHub(testConfig(overrides));
  hubs.push(h);
  return h;
}

/** A same-origin post as the dashboard's fetch sends it. */
const postChat = (h: RunningHub, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${h.httpUrl}/api/publish/chat`, { method: 'POST', headers: { 'content-type': 'application/json', origin: h.httpUrl, ...headers }, body: JSON.stringify(body) });

async function lineClient(h: RunningHub): Promise<TestSocket> {
  const s = await openSocket(h.wsUrl);
  sockets.push(s);
  await s.next((f) => f.startsWith('* welcome'));
  return s;
}

afterEach(() => {
  for (const s of sockets.splice(0)) s.ws.terminate();
  for (const s of streams.splice(0)) s.close();
});
afterAll(async () => {
  await Promise.all(hubs.map((h) => h.close()));
});

describe('POST /api/publish/chat', () => {
  it('an anonymous caller (ANONYMOUS_ROLE operator, the default) chats by HTTP: line clients and SSE readers see it', async () => {
    const h = await start({ anonymousRole: 'operator' });
    const line = await lineClient(h);
    const stream = await openSse(`${h.httpUrl}/sse/chat`);
    streams.push(stream);
    await stream.next((e) => e.event === 'welcome');
    const res = await postChat(h, { nick: 'sse-dash', text: 'hello over http' });
    expect(res.status).toBe(200);
    expect(await line.next((f) => f.includes('hello over http'))).toBe('sse-dash: hello over http');
    const msg = JSON.parse((await stream.next((e) => e.event === 'message' && e.data.includes('hello over http'))).data);
    expect(msg).toMatchObject({ topic: 'chat', data: { nick: 'sse-dash', text: 'hello over http' } });
  });

  it('applies the line-mode chat rule: control characters, overlong lines, kind and bad nicks are refused (400); a held nick is refused (403)', async () => {
    const h = await start({ anonymousRole: 'operator' });
    for (const body of [{ text: 'evil\u001b[2J' }, { text: 'x'.repeat(10_000) }, { text: 'hi', kind: 'join' }, { nick: 'bad nick!', text: 'hi' }, { text: '' }]) {
      const res = await postChat(h, body);
      expect(res.status, JSON.stringify(body).slice(0, 40)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: 'bad_request' } });
    }
    const line = await lineClient(h);
    line.send('/nick holder');
    await line.next((f) => f === '* you are now holder');
    const taken = await postChat(h, { nick: 'holder', text: 'pretending' });
    expect(taken.status).toBe(403);
    expect(await taken.json()).toMatchObject({ error: { code: 'forbidden', message: expect.stringContaining("nick 'holder'") } });
  });

  it('a viewer may chat neither by HTTP nor over a WebSocket', async () => {
    const h = await start({ anonymousRole: 'viewer' });
    const res = await postChat(h, { text: 'may I?' });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized', message: expect.stringContaining('may not chat') } });
    const line = await lineClient(h);
    line.send('may I?');
    expect(await line.next((f) => f.startsWith('!'))).toContain('may not chat');
  });

  it('is rate-limited per client address (RATE_LIMIT), with Retry-After', async () => {
    const h = await start({ anonymousRole: 'operator', rateLimitPerSecond: 1, rateLimitBurst: 2, trustedProxies: ['127.0.0.1'] });
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await postChat(h, { text: `line ${i}` }, from('203.0.113.7'))).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    const limited = await postChat(h, { text: 'again' }, from('203.0.113.7'));
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited', message: expect.stringContaining('RATE_LIMIT') } });
    // Another address has its own allowance.
    expect((await postChat(h, { text: 'other desk' }, from('203.0.113.8'))).status).toBe(200);
  });
});

/**
 * HTTP publishing's decisions over real HTTP, through the lean path (a plain `POST
 * /api/publish[/<topic>]`) and the Hono routes (an encoded path, which the lean path leaves to
 * them): credentials, bad JSON, MAX_PAYLOAD, the rate with Retry-After, batch partial failure,
 * routed topics (chat) and publishNow, all on keep-alive sockets.
 */
import { Agent, request } from 'node:http';
import { sign } from 'hono/jwt';
import { describe, expect, it } from 'vitest';
import type { RunningHub } from '../../../server/server.ts';
import { DATA_SPELLINGS, dataTexts, openTap } from '../../support/ws-client.ts';
import { perTestHubs } from '../../support/per-test-hubs.ts';

const KEY = 'http-publish-test-key';
const { hub, cleanups } = perTestHubs({ publishKey: KEY });

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string }; seq?: number; topic?: string; results?: Array<{ seq?: number; error?: { code: string } }>; failed?: number };
  /** The client port of the socket that carried it: equal ports, one kept-alive socket. */
  localPort: number;
}

/** A keep-alive client with a single socket: every request it sends goes over the same connection while the server keeps it open. */
function client(running: RunningHub) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  cleanups.push(() => agent.destroy());
  return (path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = request(`${running.httpUrl}${path}`, { method: 'POST', agent, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString()), localPort: req.socket!.localPort! }));
      });
      req.on('error', reject);
      req.end(body);
    });
}

// Both paths: the lean one takes `p.a`, Hono's routes take the encoded `p%2Ea` (the same topic).
for (const [name, topicPath] of [['lean path', 'p.a'], ['Hono route', 'p%2Ea']] as const) {
  describe(`POST /api/publish/<topic> (${name})`, () => {
    it('publishes, then refuses bad credentials (401), bad JSON (400) and too large bodies (413), all on one kept-alive socket', async () => {
      const running = await hub({ maxPayload: 1024 });
      const tap = await openTap(`${running.wsUrl}/p.*`);
      cleanups.push(() => tap.close());
      const post = client(running);
      const ok = await post(`/api/publish/${topicPath}`, '{"px":1}');
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ topic: 'p.a', seq: 1 });
      expect(JSON.parse(await tap.next())).toMatchObject({ topic: 'p.a', seq: 1, data: { px: 1 } });

      const bad = await post(`/api/publish/${topicPath}`, '{"px":2}', { authorization: 'Bearer wrong' });
      expect(bad).toMatchObject({ status: 401, body: { error: { code: 'unauthorized', message: 'invalid token' } } });
      const json = await post(`/api/publish/${topicPath}`, '{px');
      expect(json.status).toBe(400);
      expect(json.body.error?.code).toBe('bad_json');
      expect(json.body.error?.message).toMatch(/^body is not JSON: /);
      // Refused by Content-Length before it is read; the unread body is drained so the socket lives on.
      const large = await post(`/api/publish/${topicPath}`, JSON.stringify('x'.repeat(2000)));
      expect(large).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large', message: 'body larger than MAX_PAYLOAD (1024 bytes)' } } });
      const chunked = await post(`/api/publish/${topicPath}`, JSON.stringify('x'.repeat(2000)), { 'transfer-encoding': 'chunked' });
      expect(chunked.status).toBe(413);
      const again = await post(`/api/publish/${topicPath}`, '{"px":3}');
      expect(again.body).toMatchObject({ topic: 'p.a', seq: 2 });
      expect(new Set([ok, bad, json, large, chunked, again].map((r) => r.localPort)).size).toBe(1);
      expect(JSON.parse(await tap.next())).toMatchObject({ seq: 2, data: { px: 3 } }); // nothing refused was published
    });

    it('delivers data as the body spells it, without the whitespace between tokens', async () => {
      const running = await hub();
      const tap = await openTap(`${running.wsUrl}/p.*`);
      cleanups.push(() => tap.close());
      const post = client(running);
      const bodies = [...DATA_SPELLINGS.map(([sent]) => sent), ' "x y"\n']; // and a bare string, with whitespace around it
      for (const body of bodies) expect((await post(`/api/publish/${topicPath}`, body)).status).toBe(200);
      for (let i = 0; i < bodies.length; i++) await tap.next();
      expect(dataTexts(tap.frames, 'p.a')).toEqual([...DATA_SPELLINGS.map(([, delivered]) => delivered), '"x y"']);
    });

    it('counts the rate per message and answers 429 with Retry-After and the setting', async () => {
      const running = await hub({ apiKeys: [{ key: 'limited-key', role: 'publisher', publish: ['p.>'], name: 'limited' }], publisherRateLimitPerSecond: 2 });
      const post = client(running);
      const limitedKey = { authorization: 'Bearer limited-key' };
      expect((await post(`/api/publish/${topicPath}`, '1', limitedKey)).status).toBe(200);
      expect((await post(`/api/publish/${topicPath}`, '2', limitedKey)).status).toBe(200);
      const limited = await post(`/api/publish/${topicPath}`, '3', limitedKey);
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBe('1');
      expect(limited.body.error).toEqual({ code: 'rate_limited', message: 'more than 2 publishes/s from this address and credential (PUBLISHER_RATE_LIMIT); retry after 1 s' });
      expect((await post(`/api/publish/${topicPath}`, '4')).status).toBe(200); // another credential, another bucket
    });

    it('takes a JWT (verified before the publish) and refuses a forged one', async () => {
      const running = await hub({ jwtSecret: 'http-publish-jwt-secret' });
      const post = client(running);
      const exp = Math.floor(Date.now() / 1000) + 60;
      const good = await sign({ role: 'publisher', publish: ['p.>'], sub: 'feed', exp }, 'http-publish-jwt-secret', 'HS256');
      const forged = await sign({ role: 'publisher', publish: ['p.>'], sub: 'feed', exp }, 'another-secret', 'HS256');
      expect((await post(`/api/publish/${topicPath}`, '1', { authorization: `Bearer ${good}` })).body).toMatchObject({ topic: 'p.a', seq: 1 });
      const refused = await post(`/api/publish/${topicPath}`, '1', { authorization: `Bearer ${forged}` });
      expect(refused.status).toBe(401);
      expect(refused.body.error?.message).toMatch(/^invalid token: /);
    });

    it('sends routed topics through their service (chat) and still acks them', async () => {
      const running = await hub();
      const post = client(running);
      const chatPath = topicPath === 'p.a' ? 'chat' : 'ch%61t';
      expect((await post(`/api/publish/${chatPath}`, '{"nick":"ops","text":"hi"}')).body).toMatchObject({ topic: 'chat', seq: 1 });
      expect((await post(`/api/publish/${chatPath}`, '5')).body.error).toEqual({ code: 'bad_request', message: 'chat data must be an object {nick?, text}' });
    });

    it('carries the security headers and JSON content type, and refuses a cross-site origin (403)', async () => {
      const running = await hub();
      const post = client(running);
      const ok = await post(`/api/publish/${topicPath}`, '1');
      expect(ok.headers['content-type']).toBe('application/json');
      expect(ok.headers['x-content-type-options']).toBe('nosniff');
      expect(ok.headers['content-security-policy']).toContain("default-src 'self'");
      expect(ok.headers['strict-transport-security']).toBeUndefined();
      const cross = await post(`/api/publish/${topicPath}`, '1', { origin: 'https://evil.example' });
      expect(cross.status).toBe(403);
      expect(cross.body.error?.code).toBe('forbidden');
      const form = await post(`/api/publish/${topicPath}`, '1', { 'content-type': 'text/plain' });
      expect(form.status).toBe(415);
    });
  });
}

describe('POST /api/publish (batch, lean path)', () => {
  it('publishes the good messages, fails the bad ones alone, and spends one token per message', async () => {
    const running = await hub({ apiKeys: [{ key: 'limited-key', role: 'publisher', publish: ['b.>'], name: 'limited' }], publisherRateLimitPerSecond: 4 });
    const post = client(running);
    const limitedKey = { authorization: 'Bearer limited-key' };
    const batch = await post('/api/publish', JSON.stringify({ messages: [{ topic: 'b.a', data: 1 }, { topic: 'b..a', data: 2 }, { topic: 'c.a', data: 3 }] }), limitedKey);
    expect(batch.status).toBe(200);
    expect(batch.body.failed).toBe(2);
    expect(batch.body.results![0].seq).toBe(1);
    expect(batch.body.results![1].error?.code).toBe('bad_topic');
    expect(batch.body.results![2].error?.code).toBe('forbidden');
    // 3 of 4 spent: a batch of 2 is refused, a batch bigger than the burst says so.
    const limited = await post('/api/publish', JSON.stringify({ messages: [{ topic: 'b.a', data: 4 }, { topic: 'b.a', data: 5 }] }), limitedKey);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    const over = await post('/api/publish', JSON.stringify({ messages: Array.from({ length: 5 }, (_, i) => ({ topic: 'b.a', data: i })) }), limitedKey);
    expect(over.status).toBe(429);
    expect(over.body.error?.message).toMatch(/more than this caller's burst \(PUBLISHER_RATE_LIMIT\)/);
    expect((await post('/api/publish', '{"messages":', limitedKey)).body.error?.code).toBe('bad_json');
    expect(new Set([batch, limited, over].map((r) => r.localPort)).size).toBe(1);
  });
});

/** `POST /api/publish`: the HTTP batch publish (ordering, per-message results, partial failure, limits, rates). */
import { describe, expect, it } from 'vitest';
import type { RunningHub } from '../../../server/server.ts';
import { DATA_SPELLINGS, dataTexts, openTap } from '../../support/ws-client.ts';
import { perTestHubs } from '../../support/per-test-hubs.ts';

const KEY = 'http-batch-publish-key';
const { hub, cleanups } = perTestHubs({ publishKey: KEY });

function post(running: RunningHub, body: unknown): Promise<Response> {
  return fetch(`${running.httpUrl}/api/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

type Body = { results?: Array<{ seq?: number; ts?: number; error?: { code: string; message: string } }>; failed?: number; error?: { code: string; message: string } };

describe('POST /api/publish', () => {
  it('publishes the messages in order and answers with a result per message', async () => {
    const running = await hub();
    const tap = await openTap(`${running.wsUrl}/hb.*`);
    cleanups.push(() => tap.close());
    const res = await post(running, { messages: [{ topic: 'hb.a', data: 'x' }, { topic: 'hb.a', data: 'y' }, { topic: 'hb.b', data: 'z' }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Body;
    expect(body.failed).toBe(0);
    expect(body.results!.map((r) => r.seq)).toEqual([1, 2, 1]);
    for (let i = 0; i < 3; i++) await tap.next();
    expect(tap.frames.map((f) => JSON.parse(f).data)).toEqual(['x', 'y', 'z']);
  });

  it('delivers the same text whether the body takes the fast reader (the usual shape) or the general path', async () => {
    const running = await hub();
    const tap = await openTap(`${running.wsUrl}/hb.*`);
    cleanups.push(() => tap.close());
    const data = DATA_SPELLINGS.map(([sent]) => sent);
    const usual = `{"messages":[${data.map((d) => `{"topic":"hb.a","data":${d}}`).join(',')}]}\n`;
    const reordered = `{"messages":[${data.map((d) => `{"data":${d},"topic":"hb.b"}`).join(',')}]}`;
    for (const body of [usual, reordered]) {
      const res = await post(running, body);
      expect(res.status).toBe(200);
      expect(((await res.json()) as Body).failed).toBe(0);
    }
    for (let i = 0; i < 2 * data.length; i++) await tap.next();
    const byTopic = (t: string) => dataTexts(tap.frames, t);
    expect(byTopic('hb.a')).toEqual(byTopic('hb.b'));
    expect(byTopic('hb.a')).toEqual(DATA_SPELLINGS.map(([, delivered]) => delivered));
  });

  it('answers hostile bodies of the fast shape as the general path does, publishing nothing from a refused one', async () => {
    const running = await hub();
    const tap = await openTap(`${running.wsUrl}/hb.*`);
    cleanups.push(() => tap.close());
    const deep = '{"a":'.repeat(65) + '1' + '}'.repeat(65);
    const item = (data: string) => `{"topic":"hb.a","data":${data}}`;
    for (const body of [`{"messages":[${item('1')},${item('[1,')}]}`, `{"messages":[${item('1')}`, `{"messages":[${item('"\\x"')}]}`, `{"messages":[${item('1')}]} trailing`]) {
      const res = await post(running, body);
      expect([res.status, ((await res.json()) as Body).error?.code], body).toEqual([400, 'bad_json']);
    }
    const single = await fetch(`${running.httpUrl}/api/publish/hb.a`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: deep });
    expect([single.status, ((await single.json()) as Body).error?.code]).toEqual([400, 'bad_request']);
    const mixed = await post(running, `{"messages":[${item(deep)},${item('{"ok":true}')}]}`);
    expect(((await mixed.json()) as Body).results!.map((r) => r.error?.code ?? r.seq)).toEqual(['bad_request', 1]);
    await tap.next();
    expect(tap.frames.map((f) => JSON.parse(f).data)).toEqual([{ ok: true }]);
  });

  it('publishes chat (a routed topic, asynchronous) among plain topics in order, as JSON', async () => {
    const running = await hub();
    const res = await post(running, { messages: [{ topic: 'hb.a', data: 1 }, { topic: 'chat', data: { nick: 'ops', text: 'hello' } }, { topic: 'chat', data: { text: 7 } }, { topic: 'hb.a', data: 2 }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as Body;
    expect(body.failed).toBe(1);
    const [a1, said, refused, a2] = body.results!;
    expect([a1.seq, a2.seq]).toEqual([1, 2]);
    expect(typeof said.seq).toBe('number');
    expect(refused.error).toEqual({ code: 'bad_request', message: "chat data needs a non-empty 'text' string" });
    const history = (await (await fetch(`${running.httpUrl}/api/history/chat`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { messages: Array<{ seq: number; data: unknown }> };
    expect(history.messages.find((m) => m.seq === said.seq)?.data).toEqual({ nick: 'ops', text: 'hello' });
  });

  it('fails a bad message alone and publishes the rest (200, failed counts them)', async () => {
    const running = await hub();
    const res = await post(running, { messages: [{ topic: 'hb.a', data: 1 }, { topic: 'hb..a', data: 2 }, { data: 3 }, { topic: 'hb.a', data: 4 }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Body;
    expect(body.failed).toBe(2);
    expect(body.results![0].seq).toBe(1);
    expect(body.results![1].error?.code).toBe('bad_topic');
    expect(body.results![2].error).toEqual({ code: 'bad_request', message: "a batch message needs a 'topic' string" });
    expect(body.results![3].seq).toBe(2);
  });

  it('refuses bad bodies and batches over MAX_BATCH_MESSAGES or MAX_PAYLOAD as a whole', async () => {
    const running = await hub({ maxBatchMessages: 2, maxPayload: 1024 });
    const cases: Array<[unknown, number, string]> = [
      ['{not json', 400, 'bad_json'],
      [{ messages: 'x' }, 400, 'bad_request'],
      [{ messages: [] }, 400, 'bad_request'],
      [{ messages: [1, 2, 3].map((n) => ({ topic: 'hb.a', data: n })) }, 413, 'payload_too_large'],
      [{ messages: [{ topic: 'hb.a', data: 'p'.repeat(2000) }] }, 413, 'payload_too_large'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(running, body);
      expect(res.status).toBe(status);
      expect(((await res.json()) as Body).error?.code).toBe(code);
    }
    const history = (await (await fetch(`${running.httpUrl}/api/history/hb.a`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { lastSeq: number };
    expect(history.lastSeq).toBe(0);
  });

  it('counts messages, not requests, against the publish rate', async () => {
    const running = await hub({ publisherRateLimitPerSecond: 100 });
    const batch = (n: number) => ({ messages: Array.from({ length: n }, (_, i) => ({ topic: 'hb.r', data: i })) });
    expect((await post(running, batch(70))).status).toBe(200);
    const limited = await post(running, batch(50)); // 30 tokens left, and they refill at 100/s
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await limited.json()) as Body).error?.message).toContain('PUBLISHER_RATE_LIMIT');
    const over = await post(running, batch(150));
    expect(over.status).toBe(429);
    expect(((await over.json()) as Body).error?.message).toContain('send smaller batches');
  });
});

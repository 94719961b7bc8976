/**
 * The HTTP publish surface under hostile requests (seeded, so a failure replays): random methods,
 * topics, credentials, content types and bodies against `POST /api/publish/<topic>` and the batch
 * `POST /api/publish`, then malformed HTTP on raw sockets. Every answer is a known status with a
 * JSON error body, the hub keeps serving, and a tap receives exactly the messages the hub
 * acknowledged: nothing refused slips through, nothing acknowledged is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testConfig } from '../../../server/config.ts';
import { startHub, type RunningHub } from '../../../server/server.ts';
import { rawExchange } from '../../support/raw-http.ts';
import { sleep, until } from '../../support/until.ts';
import { openTap, type TapSocket } from '../../support/ws-client.ts';

const KEY = 'http-fuzz-key';
const MAX_PAYLOAD = 2048;
const MAX_BATCH = 20;
let running: RunningHub;
let tap: TapSocket;

beforeAll(async () => {
  running = await startHub(testConfig({ publishKey: KEY, maxPayload: MAX_PAYLOAD, maxBatchMessages: MAX_BATCH }));
  tap = await openTap(`${running.wsUrl}/fz.>`);
});
afterAll(async () => {
  tap?.close();
  await running?.close();
});

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOPICS = ['fz.a', 'fz.b.c', 'fz.d', 'fz..a', 'fz.*', '>', '$sys.x', `fz.${'x'.repeat(300)}`, 'fz.%2e%2e', 'fz.a%2Fb', 'fz.ü', 'fz.a/../b', '', ' fz.a', 'chat.x'];
const AUTH = [`Bearer ${KEY}`, `Bearer ${KEY}`, `Bearer ${KEY}`, undefined, 'Bearer wrong', `Basic ${btoa(`x:${KEY}`)}`, `Bearer ${'k'.repeat(5000)}`, KEY];
const TYPES = ['application/json', 'application/json', 'application/json; charset=utf-8', undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16'];
const STATUSES = new Set([200, 400, 401, 403, 404, 405, 413, 415, 429]);

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** The topic of each message the request carries (one for the per-topic form), if it is a publish. */
  topics: string[];
}

function deep(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

function request(random: () => number): Sent {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const data = (): unknown => pick([1, 'x', { p: random() }, null, [1, 2], deep(Math.floor(random() * 120)), 'y'.repeat(Math.floor(random() * 2500)), { __proto__: { polluted: true } }, { constructor: { prototype: { x: 1 } } }]);
  const headers: Record<string, string> = {};
  const auth = pick(AUTH);
  if (auth) headers.authorization = auth;
  const type = pick(TYPES);
  if (type) headers['content-type'] = type;
  const method = random() < 0.9 ? 'POST' : pick(['GET', 'PUT', 'DELETE', 'PATCH']);
  if (random() < 0.5) {
    const topic = pick(TOPICS);
    const body = random() < 0.15 ? pick(['{', '', 'nul', '{"a":', '\u0000', '[1,2']) : JSON.stringify(data());
    return { method, path: `/api/publish/${topic}`, headers, body: method === 'GET' ? undefined : body, topics: [topic] };
  }
  const count = random() < 0.1 ? MAX_BATCH + 1 + Math.floor(random() * 5) : Math.floor(random() * 8);
  const items = Array.from({ length: count }, () =>
    pick<unknown>([{ topic: pick(TOPICS), data: data() }, { topic: pick(TOPICS), data: data() }, { topic: 'fz.a', data: data() }, { topic: 'fz.a' }, { data: 1 }, 'x', null, [1], { topic: 7, data: 1 }]),
  );
  const shapes = [{ messages: items }, { messages: items }, { messages: items }, { messages: 'x' }, { messages: { 0: items[0] } }, items, { messages: items, extra: deep(200) }];
  const body = random() < 0.1 ? '{"messages":[' : JSON.stringify(pick(shapes));
  const topics = items.map((i) => (typeof i === 'object' && i !== null && 'topic' in i && typeof i.topic === 'string' ? i.topic : ''));
  return { method, path: '/api/publish', headers, body: method === 'GET' ? undefined : body, topics };
}

type ErrorBody = { error?: { code?: unknown; message?: unknown } };
type Result = { seq?: number; error?: unknown };

describe('HTTP fuzzer', () => {
  it('hostile publish requests get a known status and a JSON error; the tap gets exactly what was acknowledged', async () => {
    const random = prng(20261202);
    const acked = new Map<string, number[]>(); // topic -> seqs the hub acknowledged
    const ack = (topic: string, seq: unknown) => {
      expect(typeof seq).toBe('number');
      acked.set(topic, [...(acked.get(topic) ?? []), seq as number]);
    };
    const statuses = new Map<number, number>();
    const requests = Array.from({ length: 400 }, () => request(random));
    for (let i = 0; i < requests.length; i += 8) {
      await Promise.all(
        requests.slice(i, i + 8).map(async (r) => {
          const res = await fetch(`${running.httpUrl}${r.path}`, { method: r.method, headers: r.headers, body: r.body });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(STATUSES, `${r.method} ${r.path} -> ${res.status} ${text.slice(0, 200)}`).toContain(res.status);
          if (res.status !== 200) {
            if (r.method === 'POST') {
              let err: ErrorBody['error'];
              try {
                err = (JSON.parse(text) as ErrorBody).error;
              } catch {
                throw new Error(`${r.method} ${r.path} (${JSON.stringify(r.headers).slice(0, 200)}) -> ${res.status}, not JSON: ${text.slice(0, 200)}`);
              }
              expect(typeof err?.code, text).toBe('string');
              expect(typeof err?.message, text).toBe('string');
            }
            if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
            return;
          }
          const body = JSON.parse(text) as { topic?: string; seq?: number; results?: Result[]; failed?: number };
          if (r.path === '/api/publish') {
            expect(body.results).toHaveLength(r.topics.length);
            expect(body.failed).toBe(body.results!.filter((x) => 'error' in x).length);
            body.results!.forEach((x, k) => {
              if (!('error' in x)) ack(r.topics[k], x.seq);
            });
          } else {
            ack(body.topic!, body.seq);
          }
        }),
      );
    }
    // The fuzzer reached both outcomes and the refusals it was built to provoke.
    expect(statuses.get(200)).toBeGreaterThan(20);
    for (const s of [400, 401, 413, 415]) expect(statuses.get(s), `status ${s} never seen: ${[...statuses]}`).toBeGreaterThan(0);

    const expected = [...acked].filter(([t]) => t.startsWith('fz.')).reduce((n, [, seqs]) => n + seqs.length, 0);
    await until(`${expected} messages at the tap`, () => tap.frames.length >= expected);
    await sleep(200); // anything unacknowledged would arrive meanwhile
    const received = new Map<string, number[]>();
    for (const f of tap.frames) {
      const m = JSON.parse(f) as { topic: string; seq: number };
      received.set(m.topic, [...(received.get(m.topic) ?? []), m.seq]);
    }
    for (const [topic, seqs] of acked) {
      if (!topic.startsWith('fz.')) continue;
      const sorted = [...seqs].sort((a, b) => a - b);
      expect(sorted, `${topic}: seqs 1..n, each acknowledged once`).toEqual(sorted.map((_, k) => k + 1));
      expect(received.get(topic), topic).toEqual(sorted);
    }
    expect([...received.keys()].every((t) => acked.has(t))).toBe(true);
    expect((await fetch(`${running.httpUrl}/healthz`)).status).toBe(200);
  }, 60_000);

  it('malformed HTTP on raw sockets is refused with 4xx and closed; the hub keeps publishing', async () => {
    const post = (head: string, body = '') => `POST /api/publish/fz.raw HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n${head}\r\n${body}`;
    const attacks = [
      'GARBAGE\r\n\r\n',
      '\x00\x01\x02\r\n\r\n',
      'POST /api/publish/fz.raw HTTP/9.9\r\nHost: x\r\n\r\n',
      post('Content-Length: -1\r\n', '1'),
      post('Content-Length: 1\r\nContent-Length: 2\r\n', '12'),
      post('Transfer-Encoding: chunked\r\n', 'zz\r\nxx\r\n0\r\n\r\n'),
      post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '1\r\nx\r\n0\r\n\r\n'),
      post(`X-Big: ${'h'.repeat(20_000)}\r\n`),
      `POST /api/publish/${'t'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      post(`Content-Length: ${MAX_PAYLOAD * 4}\r\nConnection: close\r\n`, 'x'.repeat(MAX_PAYLOAD * 4)),
    ];
    const answers = await Promise.all(attacks.map((a) => rawExchange(running.port, a, { timeoutMs: 8000 })));
    answers.forEach(({ response }, k) => expect(response, `attack ${k}: ${JSON.stringify(response.slice(0, 120))}`).toMatch(/^HTTP\/1\.[01] 4\d\d /));
    const before = tap.frames.length;
    const good = await rawExchange(running.port, post('Content-Length: 1\r\nConnection: close\r\n', '7'));
    expect(good.response).toMatch(/^HTTP\/1\.1 200 /);
    await until('the good publish at the tap', () => tap.frames.length === before + 1, 5000);
    expect(JSON.parse(tap.frames.at(-1)!)).toMatchObject({ topic: 'fz.raw', data: 7 });
  }, 30_000);
});

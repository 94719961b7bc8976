/** The load generator's counting: publish replies, batch forms, subscription mixes, their expected counts, and the targets judged from them. */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { expectedCounts, subscriptionMix } from '../../../bench/lib/many-topics.ts';
import { manyTopics } from '../../../bench/lib/payload.ts';
import { countReply, Publisher } from '../../../bench/lib/publisher.ts';
import type { IngestResult, IngestRun } from '../../../bench/lib/ingest.ts';
import type { StepResult } from '../../../bench/lib/measure.ts';
import { scenarioTargets } from '../../../bench/lib/scenario-targets.ts';
import { compare } from '../../../bench/lib/report.ts';
import type { CompareCell } from '../../../bench/lib/compare.ts';
import type { StormResult } from '../../../bench/lib/storm.ts';
import { until } from '../../support/until.ts';

describe('countReply', () => {
  it('counts a pub ack as one, a batch ack per result, errors of a refused batch by its size', () => {
    expect(countReply('{"op":"ok","id":1,"seq":5,"ts":1}')).toEqual({ acks: 1, errors: 0 });
    expect(countReply('{"op":"ok","id":2,"results":[{"seq":1,"ts":1},{"error":{"code":"bad_topic","message":"x"}},{"seq":2,"ts":1}],"failed":1}')).toEqual({ acks: 2, errors: 1 });
    expect(countReply('{"op":"error","id":3,"code":"rate_limited","message":"x"}', (id) => (id === 3 ? 100 : 1))).toEqual({ acks: 0, errors: 100 });
    expect(countReply('{"op":"welcome","v":1}')).toEqual({ acks: 0, errors: 0 });
  });
});

describe('subscriptionMix / expectedCounts', () => {
  const topics = manyTopics(1000);

  it('gives 3% `>`, 10% `ticks.*` and the rest 5-20 distinct exact symbols, the same every time', () => {
    const mix = subscriptionMix(1000, topics);
    const known = new Set(topics);
    expect(mix.filter((m) => m[0] === '>')).toHaveLength(30);
    expect(mix.filter((m) => m[0] === 'ticks.*')).toHaveLength(100);
    const exact = mix.filter((m) => m[0] !== '>' && m[0] !== 'ticks.*');
    for (const m of exact) {
      expect(m.length).toBeGreaterThanOrEqual(5);
      expect(m.length).toBeLessThanOrEqual(20);
      expect(new Set(m).size).toBe(m.length);
      expect(m.every((t) => known.has(t))).toBe(true);
    }
    expect(subscriptionMix(1000, topics)).toEqual(mix);
  });

  it('counts what each subscriber gets when message i goes to topics[i % n]', () => {
    const mix = [['>'], ['ticks.*'], ['ticks.S0000', 'ticks.S0002'], ['ticks.S0999']];
    // 2500 messages: every topic twice, then S0000..S0499 once more.
    expect(expectedCounts(mix, topics, 2500)).toEqual([2500, 2500, 3 + 3, 2]);
    expect(expectedCounts(mix, topics, 1)).toEqual([1, 1, 1, 0]);
  });
});

describe('Publisher', () => {
  let server: Server | null = null;
  const publishers: Publisher[] = [];
  afterEach(async () => {
    for (const p of publishers.splice(0)) p.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = null;
  });

  function listen(s: Server): Promise<number> {
    server = s;
    return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
  }

  it('hub-batch: sends the due messages in batches of at most `batch`, cycling topics, and counts per-message acks and refusals', async () => {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    const got: Array<{ id: number; messages: Array<{ topic: string }> }> = [];
    wss.on('connection', (ws) => {
      ws.send('{"op":"welcome","v":1}');
      ws.on('message', (raw) => {
        const req = JSON.parse(String(raw)) as { id: number; messages: Array<{ topic: string }> };
        got.push(req);
        // Every third batch is refused as a whole; the others fail their first message.
        if (got.length % 3 === 0) ws.send(`{"op":"error","id":${req.id},"code":"rate_limited","message":"x"}`);
        else ws.send(JSON.stringify({ op: 'ok', id: req.id, results: req.messages.map((_, i) => (i === 0 ? { error: { code: 'bad_topic', message: 'x' } } : { seq: i, ts: 1 })) }));
      });
    });
    const port = await listen(http);
    const pub = new Publisher({ url: `ws://127.0.0.1:${port}`, format: 'hub-batch', batch: 7, topics: ['a', 'b', 'c'] });
    publishers.push(pub);
    await pub.open();
    const run = await pub.run(2000, 100); // 200 messages
    expect(run.sent).toBe(200);
    await until('every message answered', () => pub.replies().acks + pub.replies().errors === 200);
    const sizes = got.map((g) => g.messages.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    expect(run.requests).toBe(got.length);
    expect(got.flatMap((g) => g.messages.map((m) => m.topic)).slice(0, 6)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    const refused = got.filter((_, i) => (i + 1) % 3 === 0).reduce((a, g) => a + g.messages.length, 0);
    const accepted = got.filter((_, i) => (i + 1) % 3 !== 0);
    expect(pub.replies().errors).toBe(refused + accepted.length);
    expect(pub.replies().acks).toBe(accepted.reduce((a, g) => a + g.messages.length - 1, 0));
  });

  it('http and http-batch: one request per message or per batch, counting 200s, results and failures', async () => {
    let requests = 0;
    const port = await listen(
      createServer((req, res) => {
        requests++;
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          if (req.url === '/api/publish') {
            const { messages } = JSON.parse(body) as { messages: unknown[] };
            res.end(JSON.stringify({ results: messages.map((_, i) => (i % 4 === 3 ? { error: { code: 'bad_request', message: 'x' } } : { seq: i, ts: 1 })), failed: 0 }));
          } else if (req.url === '/api/publish/bad') {
            res.writeHead(429).end('{"error":{"code":"rate_limited","message":"x"}}');
          } else res.end('{"seq":1,"ts":1}');
        });
      }),
    );
    const single = new Publisher({ url: `http://127.0.0.1:${port}`, format: 'http', connections: 2, topics: ['ok', 'bad'] });
    publishers.push(single);
    await single.open();
    expect((await single.run(1000, 50)).sent).toBe(50);
    await until('no request in flight', () => single.replies().inFlight === 0);
    expect(single.replies()).toMatchObject({ acks: 25, errors: 25 });
    expect(requests).toBe(50);

    requests = 0;
    const batch = new Publisher({ url: `http://127.0.0.1:${port}`, format: 'http-batch', batch: 10 });
    publishers.push(batch);
    await batch.open();
    const run = await batch.run(4000, 100); // 400 messages
    await until('no batch in flight', () => batch.replies().inFlight === 0);
    expect(run.sent).toBe(400);
    expect(run.requests).toBe(requests);
    expect(batch.replies().acks + batch.replies().errors).toBe(400);
    expect(batch.replies().errors).toBeGreaterThan(0);
  });
});

describe('scenarioTargets', () => {
  const step = (rate: number, messagesPerCpuSec: number, p99: number, sustained = true) =>
    ({ rate, messagesPerCpuSec, deliveriesPerCpuSec: messagesPerCpuSec, sustained, latency: { p99 } }) as unknown as StepResult;
  const run = (server: IngestRun['server'], form: IngestRun['form'], steps: StepResult[]): IngestRun => ({ server, form, publishers: 1, steps, maxSustainedRate: null });

  it('judges tickhub against the JSON hub at the highest rate both sustained, and batch against pub', () => {
    const ingest: IngestResult = {
      rates: [1000, 2000, 4000],
      batch: 100,
      runs: [
        run('json', 'single', [step(1000, 100, 10), step(2000, 200, 10), step(4000, 0, 500, false)]),
        run('tickhub', 'single', [step(1000, 90, 15), step(2000, 180, 30)]),
        run('tickhub', 'batch', [step(1000, 400, 5), step(2000, 500, 5), step(4000, 900, 6)]),
      ],
    };
    const rows = scenarioTargets({ ingest, topics: null, storm: null, idleScale: null });
    expect(rows.map((r) => [r.measured, r.pass])).toEqual([
      ['0.90× at 2000 msg/s', true],
      ['3.00×', false],
      ['2.78× at 2000 msg/s', false],
    ]);
  });

  it('fails a storm that lost or duplicated anything, and says n/a without a ceiling time', () => {
    const storm = { clients: 10, caughtUp: 10, lost: 0, duplicated: 1, missing: 0, resumeMs: 100, ceilingAcceptMs: null } as unknown as StormResult;
    const rows = scenarioTargets({ ingest: null, topics: null, storm, idleScale: null });
    expect(rows.map((r) => r.pass)).toEqual([false, null]);
  });
});

describe('compare', () => {
  it('judges tickhub against the ceiling and uWS per paired rate, skipping a rate one of them did not sustain', () => {
    const cell = (server: CompareCell['server'], rate: number, perCpu: number, p99: number, sustained = 3): CompareCell => ({ server, rate, trials: 3, sustained, deliveriesPerCpuSec: perCpu, serverCores: 1, p50: 1, p99, max: p99, loadgenCores: 0.5, foreignCores: 0 });
    const paired = {
      subscribers: 1000,
      rates: [100, 1600],
      steps: [],
      cells: [cell('ceiling', 100, 200, 10), cell('uws', 100, 400, 5), cell('tickhub', 100, 180, 11), cell('ceiling', 1600, 2000, 20), cell('uws', 1600, 2500, 30, 0), cell('tickhub', 1600, 2100, 22)],
    };
    const c = compare([{ name: 'tickhub' }], paired)!;
    expect(c.equalLoad.map((e) => [e.rate, e.cpuRatio])).toEqual([[100, 0.9], [1600, 1.05]]);
    expect(c.vsUws).toEqual([{ rate: 100, cpuRatio: 0.45 }]); // uWS sustained nothing at 1600
    expect(c.cpuRatioVsUws).toBe(0.45);
  });
});

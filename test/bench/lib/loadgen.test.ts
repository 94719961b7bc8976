import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { Histogram } from '../../../bench/lib/histogram.ts';
import { envelopeJson, PAYLOAD, parsePayload, parseSentMs } from '../../../bench/lib/payload.ts';
import { Publisher } from '../../../bench/lib/publisher.ts';
import { RawSubscriber, type Dialect, type Sampler } from '../../../bench/lib/subscriber.ts';
import { nowMs } from '../../../bench/lib/clock.ts';
import { until } from '../../support/until.ts';

describe('bench histogram', () => {
  it('gives percentiles within 1% and the exact max', () => {
    const h = new Histogram();
    for (let i = 1; i <= 10_000; i++) h.record(i / 10); // 0.1 .. 1000 ms
    const s = h.summary();
    expect(s.samples).toBe(10_000);
    expect(s.p50).toBeGreaterThan(500 * 0.99);
    expect(s.p50).toBeLessThan(500 * 1.02);
    expect(s.p99).toBeGreaterThan(990 * 0.99);
    expect(s.max).toBe(1000);
  });

  it('merges exactly', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 100; i++) (i % 2 ? a : b).record(i * 0.01);
    const m = new Histogram();
    m.merge(a.toData());
    m.merge(b.toData());
    expect(m.count).toBe(100);
    expect(m.max).toBeCloseTo(0.99);
    expect(m.quantile(0.5)).toBeCloseTo(0.49, 2);
  });
});

describe('bench payload', () => {
  it('is ~150 bytes on the wire and its send time parses back', () => {
    const t = 1764100000123.456;
    const text = envelopeJson(123456, t);
    expect(text.length + 4).toBeGreaterThan(140);
    expect(text.length + 4).toBeLessThan(160);
    const buf = Buffer.from(`xx${text}yy`);
    expect(parseSentMs(buf, 2, 2 + text.length)).toBeCloseTo(t, 3);
    expect(parseSentMs(buf, 2, 10)).toBeNaN();
  });

  it('--payload=ticks: the same size, numbers as JSON.stringify writes them, the send time to the millisecond', async () => {
    vi.resetModules();
    process.env.BENCH_PAYLOAD = 'ticks';
    try {
      const ticks = await import('../../../bench/lib/payload.ts');
      expect(ticks.PAYLOAD).toBe('ticks');
      const t = 1764100000123.456;
      for (const seq of [1, 96, 97, 123456]) {
        const text = ticks.envelopeJson(seq, t);
        expect(Math.abs(text.length - envelopeJson(seq, t).length)).toBeLessThanOrEqual(10); // the default payload's size
        expect(ticks.PAYLOAD).not.toBe(PAYLOAD);
        const data = ticks.dataJson(seq, t);
        expect(JSON.stringify(JSON.parse(data))).toBe(data);
        expect(JSON.parse(data)).toMatchObject({ s: seq, t: 1764100000123 });
        expect(parseSentMs(Buffer.from(text), 0, text.length)).toBe(1764100000123);
      }
    } finally {
      delete process.env.BENCH_PAYLOAD;
      vi.resetModules();
    }
  });

  it('refuses a payload it does not know', () => {
    expect(parsePayload(undefined)).toBe('default');
    expect(parsePayload('ticks')).toBe('ticks');
    expect(() => parsePayload('tick')).toThrow("--payload (BENCH_PAYLOAD) must be 'default' or 'ticks', not 'tick'");
  });
});

describe('bench raw subscriber', () => {
  let wss: WebSocketServer | null = null;
  const subs: RawSubscriber[] = [];
  afterEach(async () => {
    for (const s of subs.splice(0)) s.destroy();
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
    wss = null;
  });

  async function serve(onConnection: (ws: WebSocket) => void): Promise<number> {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    wss.on('connection', onConnection);
    await new Promise<void>((resolve) => wss!.once('listening', () => resolve()));
    return (wss.address() as AddressInfo).port;
  }

  function subscriber(port: number, dialect: Dialect, every = 1): { sub: RawSubscriber; sampler: Sampler } {
    const sampler: Sampler = { every, hist: new Histogram(), unparsable: 0 };
    const sub = new RawSubscriber({ host: '127.0.0.1', port, path: '/sub', dialect }, sampler, 0);
    subs.push(sub);
    return { sub, sampler };
  }


  it('counts frames of every length class, samples latency and answers pings', async () => {
    let pongs = 0;
    let server: WebSocket | null = null;
    const port = await serve((ws) => {
      server = ws;
      ws.on('pong', () => pongs++);
    });
    const { sub, sampler } = subscriber(port, 'ws');
    await sub.open();
    await until('server !== null', () => server !== null);
    const pad = (n: number): string => 'p'.repeat(n);
    const sizes = [0, 100, 300, 70_000];
    for (let i = 0; i < 400; i++) server!.send(`{"t":${nowMs().toFixed(3)},"p":"${pad(sizes[i % 4])}"}`);
    server!.ping('hi');
    await until('sub.count === 400 && pongs === 1', () => sub.count === 400 && pongs === 1);
    expect(sub.count).toBe(400);
    expect(pongs).toBe(1);
    expect(sampler.hist.count).toBe(400);
    expect(sampler.unparsable).toBe(0);
    expect(sampler.hist.max).toBeLessThan(5000);
  });

  it("does not count a hub's op frames (a tap's welcome, reset), even split across reads", async () => {
    let server: WebSocket | null = null;
    const port = await serve((ws) => (server = ws));
    const { sub, sampler } = subscriber(port, 'ws');
    await sub.open();
    await until('server !== null', () => server !== null);
    server!.send('{"op":"welcome","v":1,"epoch":"e","node":"n","ts":1}');
    const raw = (server as unknown as { _socket: import('node:net').Socket })._socket;
    // A text frame `{"op":"reset"...}` whose header and first payload bytes arrive in separate writes.
    const payload = Buffer.from('{"op":"reset","topic":"t","epoch":"e","reason":"epoch"}');
    const frame = Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
    raw.write(frame.subarray(0, 4));
    await new Promise((r) => setTimeout(r, 20));
    raw.write(frame.subarray(4));
    for (let i = 0; i < 10; i++) server!.send(envelopeJson(i, nowMs()));
    await until('sub.count === 10', () => sub.count === 10);
    await new Promise((r) => setTimeout(r, 20));
    expect(sub.count).toBe(10);
    expect(sampler.unparsable).toBe(0);
  });

  it('samples one frame in `every`', async () => {
    let server: WebSocket | null = null;
    const port = await serve((ws) => (server = ws));
    const { sub, sampler } = subscriber(port, 'ws', 10);
    await sub.open();
    await until('server !== null', () => server !== null);
    for (let i = 0; i < 100; i++) server!.send(envelopeJson(i, nowMs()));
    await until('sub.count === 100', () => sub.count === 100);
    expect(sampler.hist.count).toBe(10);
  });

  it('speaks enough engine.io to receive socket.io events', async () => {
    const heard: string[] = [];
    let server: WebSocket | null = null;
    const port = await serve((ws) => {
      server = ws;
      ws.on('message', (m) => {
        const text = m.toString();
        heard.push(text);
        if (text === '40') ws.send('40{"sid":"s1"}');
      });
      ws.send('0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}');
    });
    const { sub } = subscriber(port, 'engineio');
    await sub.open();
    server!.send('2');
    for (let i = 0; i < 5; i++) server!.send(`42["m",${envelopeJson(i, nowMs())}]`);
    await until('sub.count === 5 && heard.includes("3")', () => sub.count === 5 && heard.includes('3'));
    expect(heard).toEqual(['40', '3']);
    expect(sub.count).toBe(5);
  });
});

describe('bench publisher', () => {
  let wss: WebSocketServer | null = null;
  const pubs: Publisher[] = [];
  afterEach(async () => {
    for (const p of pubs.splice(0)) p.close();
    await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
    wss = null;
  });

  /** A hub stand-in that welcomes, answers every `pubs` and records each batch's size. */
  async function batchServer(sizes: number[]): Promise<number> {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    wss.on('connection', (ws) => {
      ws.send('{"op":"welcome"}');
      ws.on('message', (raw) => {
        const req = JSON.parse(raw.toString()) as { id: number; messages: unknown[] };
        sizes.push(req.messages.length);
        ws.send(JSON.stringify({ op: 'ok', id: req.id, results: req.messages.map((_, i) => ({ seq: i + 1, ts: 0 })), failed: 0 }));
      });
    });
    await new Promise<void>((resolve) => wss!.once('listening', () => resolve()));
    return (wss.address() as AddressInfo).port;
  }

  async function publish(fullBatches: boolean): Promise<number[]> {
    const sizes: number[] = [];
    const port = await batchServer(sizes);
    const pub = new Publisher({ url: `ws://127.0.0.1:${port}/`, format: 'hub-batch', batch: 50, fullBatches });
    pubs.push(pub);
    await pub.open();
    const result = await pub.run(400, 600); // 240 messages, ~one per 1 ms tick
    await until('every message to reach the server', () => sizes.reduce((a, b) => a + b, 0) === 240, 5000);
    expect(result.sent).toBe(240);
    return sizes;
  }

  it('sends whole batches at a low rate with fullBatches (the last one short)', async () => {
    expect(await publish(true)).toEqual([50, 50, 50, 50, 40]);
  });

  it("sends each tick's due messages without it", async () => {
    const sizes = await publish(false);
    expect(sizes.length).toBeGreaterThan(5); // ~240 on an idle machine, fewer when ticks run late
    // Most batches are a tick's few messages; a tick that runs 125 ms late (a loaded machine) may fill one.
    expect(sizes.filter((n) => n < 50).length).toBeGreaterThan(sizes.length / 2);
  });
});

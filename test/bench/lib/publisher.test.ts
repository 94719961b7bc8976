/** The HTTP publisher's socket pool: how many sockets it really uses, how many requests each carries at once, and that every message is counted once. */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_HTTP_SOCKETS, Publisher, type PublisherTarget } from '../../../bench/lib/publisher.ts';
import { until } from '../../support/until.ts';

/** A publish endpoint that answers after `delayMs` (0: at once) and records, per client socket, its requests and the most in flight at once. */
function slowEndpoint(delayMs: number) {
  const perSocket = new Map<string, { requests: number; inFlight: number; maxInFlight: number }>();
  let messages = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const key = `${req.socket.remotePort}`;
    const s = perSocket.get(key) ?? { requests: 0, inFlight: 0, maxInFlight: 0 };
    perSocket.set(key, s);
    s.requests++;
    s.maxInFlight = Math.max(s.maxInFlight, ++s.inFlight);
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const batch = req.url === '/api/publish' ? (JSON.parse(body) as { messages: unknown[] }).messages : null;
      messages += batch ? batch.length : 1;
      const answer = () => {
        s.inFlight--;
        res.end(batch ? JSON.stringify({ results: batch.map((_, i) => ({ seq: i, ts: 1 })), failed: 0 }) : '{"topic":"t","seq":1,"ts":1}');
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer(); // a timer of 0 still waits >= 1 ms
    });
  });
  return { server, perSocket, messages: () => messages };
}

describe('Publisher over HTTP', () => {
  const servers: Server[] = [];
  const publishers: Publisher[] = [];
  afterEach(async () => {
    for (const p of publishers.splice(0)) p.close();
    for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
  });

  async function listen(server: Server): Promise<string> {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** A publisher of `target` against an endpoint answering after `delayMs`, run at `rate` for `ms`, every answer in. */
  async function publishTo(delayMs: number, target: Omit<PublisherTarget, 'url'>, rate: number, ms: number) {
    const endpoint = slowEndpoint(delayMs);
    const pub = new Publisher({ url: await listen(endpoint.server), ...target });
    publishers.push(pub);
    await pub.open();
    const run = await pub.run(rate, ms);
    await until('no request in flight', () => pub.replies().inFlight === 0);
    return { endpoint, pub, run, sockets: [...endpoint.perSocket.values()] };
  }

  it('keeps one request in flight on each of its httpSockets keep-alive sockets, and no more', async () => {
    // 2 publishers x 3 sockets; 2000 msg/s against 20 ms answers needs ~40 in flight: the pool (6) is the limit.
    const { endpoint, pub, run, sockets } = await publishTo(20, { format: 'http', connections: 2, httpSockets: 3 }, 2000, 200);
    expect(sockets).toHaveLength(6);
    expect(Math.max(...sockets.map((s) => s.maxInFlight))).toBe(1);
    expect(sockets.every((s) => s.requests > 1)).toBe(true); // kept alive and reused
    expect(run.requests).toBe(run.sent);
    expect(sockets.reduce((a, s) => a + s.requests, 0)).toBe(run.sent);
    expect(pub.replies()).toMatchObject({ acks: run.sent, errors: 0 });
    expect(endpoint.messages()).toBe(run.sent);
  });

  it('batches: counts every message of every batch once, over the default pool', async () => {
    const { endpoint, pub, run, sockets } = await publishTo(5, { format: 'http-batch', batch: 10 }, 4000, 200); // 800 messages
    expect(run.sent).toBe(800);
    expect(endpoint.messages()).toBe(800);
    expect(pub.replies()).toMatchObject({ acks: 800, errors: 0 });
    expect(sockets.length).toBeLessThanOrEqual(DEFAULT_HTTP_SOCKETS);
    expect(Math.max(...sockets.map((s) => s.maxInFlight))).toBe(1);
    expect(sockets.reduce((a, s) => a + s.requests, 0)).toBe(run.requests);
  });

  it("starts a socket's next due request as its response ends, not at the next 1 ms tick", async () => {
    // 2000 messages due at once on one socket: one per tick would take ~2000 ms or more (a 1 ms
    // timer); starting each as the last one is answered takes a round trip apiece (0.2-0.75 ms
    // measured, the slower on a loaded 2-core VM).
    const { endpoint, pub, run } = await publishTo(0, { format: 'http', httpSockets: 1 }, 1_000_000, 2);
    expect(run.sent).toBe(2000);
    expect(run.endAt - run.startAt).toBeLessThan(1900);
    expect(endpoint.messages()).toBe(2000);
    expect(pub.replies()).toMatchObject({ acks: 2000, errors: 0 });
  });

  it("batches carry the tick's messages: a freed socket does not send a batch of one or two", async () => {
    const { endpoint, run } = await publishTo(0, { format: 'http-batch', batch: 100 }, 4000, 200); // 800 messages, >= 4 due per tick
    expect(run.sent).toBe(800);
    expect(endpoint.messages()).toBe(800);
    expect(run.requests).toBeLessThan(300); // one per tick: <= ~200 in 200 ms; one per answer: 450+ measured
  });
});

describe('Publisher over WebSocket', () => {
  it('refuses to run when its connection never opened, rather than failing on the first send', async () => {
    // Port 1 on loopback: nothing listens, the connect is refused at once.
    const pub = new Publisher({ url: 'ws://127.0.0.1:1/pub', format: 'envelope' });
    await expect(pub.open()).rejects.toThrow(/ECONNREFUSED/);
    await expect(pub.run(100, 100)).rejects.toThrow('publisher not open');
    pub.close();
  });
});

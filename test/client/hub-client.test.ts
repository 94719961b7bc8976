/**
 * HubClient against real hubs on port 0, with `ws` as its WebSocket. Connections are dropped
 * server-side (`running.hub.connections`), and a gate on the connect factory holds the client
 * off the hub while a test publishes what it must then catch up on.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type HubClientOptions, type WebSocketLike } from '../../client/hub-client.ts';
import { HubError } from '../../protocol/errors.ts';
import { MAX_SINCE_TOPICS } from '../../protocol/limits.ts';
import type { HubMessage, ResetFrame, WelcomeFrame } from '../../protocol/wire.ts';
import { MemoryBroker } from '../../server/broker/memory.ts';
import { defaultRetention, testConfig, type HubConfig } from '../../server/config.ts';
import { startHub, type RunningHub, type StartOptions } from '../../server/server.ts';
import { sleep, until } from '../support/until.ts';

const KEY = 'hub-client-test-key';

/** What a test started, stopped after it whatever happens. */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function hub(overrides: Partial<HubConfig> = {}, options: StartOptions = {}): Promise<RunningHub> {
  const running = await startHub(testConfig({ publishKey: KEY, ...overrides }), options);
  cleanups.push(() => running.close());
  return running;
}

interface Harness {
  client: HubClient;
  /** Every socket the client opened, in order. */
  sockets: WebSocket[];
  welcomes: WelcomeFrame[];
  statuses: string[];
  /** When the client called its connect factory, each time (refused ones included). */
  attemptsAt: number[];
  /** While true, the factory refuses to connect (the client schedules another attempt). */
  gate: { down: boolean };
}

function harness(url: string, options: Partial<HubClientOptions> = {}): Harness {
  const sockets: WebSocket[] = [];
  const welcomes: WelcomeFrame[] = [];
  const statuses: string[] = [];
  const attemptsAt: number[] = [];
  const gate = { down: false };
  const client = new HubClient({
    url,
    token: KEY,
    fallback: false, // these tests are about the WebSocket; hub-client-fallback.test.ts is about SSE
    minBackoffMs: 5,
    maxBackoffMs: 20,
    connect: (u, p) => {
      attemptsAt.push(performance.now());
      if (gate.down) throw new Error('gate down');
      const ws = new WebSocket(u, p);
      sockets.push(ws);
      return ws as unknown as WebSocketLike;
    },
    onWelcome: (w) => welcomes.push(w),
    onStatus: (s) => statuses.push(s),
    ...options,
  });
  cleanups.push(() => client.close());
  return { client, sockets, welcomes, statuses, attemptsAt, gate };
}

const appConnections = (running: RunningHub) => [...running.hub.connections].filter((c) => c.mode === 'app');
/** The hub holds `pattern` for the client (its sub request arrived). */
const subscribedAt = (running: RunningHub, pattern: string) => until(`the hub to hold the sub ${pattern}`, () => appConnections(running).some((c) => c.subs.has(pattern)), 3000);
/** Drop every app connection from the hub's side, as a network failure would. */
const dropAll = (running: RunningHub) => {
  for (const c of appConnections(running)) c.terminate();
};
const seqsOf = (got: HubMessage[], topic: string) => got.filter((m) => m.topic === topic).map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('HubClient', () => {
  it('#subscribe and #publish: a round trip through the hub, history, unsubscribe', async () => {
    const running = await hub();
    const { client, welcomes, statuses } = harness(running.wsUrl);
    const got: HubMessage[] = [];
    const others: HubMessage[] = [];
    const unsubscribe = client.subscribe('rt.*', (m) => got.push(m));
    client.subscribe('rt.>', (m) => others.push(m));
    await until('the client to open', () => client.status === 'open', 3000);
    expect(statuses).toEqual(['connecting', 'open']);
    expect(welcomes).toHaveLength(1);
    expect(welcomes[0]).toMatchObject({ op: 'welcome', epoch: running.hub.epoch, role: 'publisher' });
    await subscribedAt(running, 'rt.*');
    await subscribedAt(running, 'rt.>');

    const first = await client.publish('rt.a', { n: 1 });
    const second = await client.publish('rt.a', { n: 2 });
    expect(first.seq).toBe(1);
    expect(second.seq).toBe(2);
    expect(second.ts).toBeGreaterThanOrEqual(first.ts);
    await until('both messages', () => got.length === 2, 3000);
    expect(got).toEqual([
      { topic: 'rt.a', seq: 1, ts: first.ts, data: { n: 1 } },
      { topic: 'rt.a', seq: 2, ts: second.ts, data: { n: 2 } },
    ]);
    expect((await client.history('rt.a', { since: 1 })).map((m) => m.data)).toEqual([{ n: 2 }]);

    unsubscribe();
    await until('the hub to drop the sub', () => appConnections(running).every((c) => !c.subs.has('rt.*')), 3000);
    await client.publish('rt.a', { n: 3 });
    await until('the other subscription to get it', () => others.length === 3, 3000);
    expect(got).toHaveLength(2); // the unsubscribed handler saw nothing more
  });

  it('#publish writes op, id, topic, data in that order: the shape the hub reads without JSON.parse', async () => {
    const running = await hub();
    const sent: string[] = [];
    const { client } = harness(running.wsUrl, {
      connect: (u, p) => {
        const ws = new WebSocket(u, p);
        const send = ws.send.bind(ws);
        ws.send = ((data: string) => (sent.push(data), send(data))) as typeof ws.send;
        return ws as unknown as WebSocketLike;
      },
    });
    await until('the client to open', () => client.status === 'open', 3000);
    expect((await client.publish('rt.a', { n: 1 })).seq).toBe(1);
    expect(sent.filter((f) => f.includes('"op":"pub"'))).toEqual([expect.stringMatching(/^\{"op":"pub","id":\d+,"topic":"rt\.a","data":\{"n":1\}\}$/)]);
  });

  it('#publish rejects with the hub\'s error, and at once while not connected', async () => {
    const running = await hub();
    const { client } = harness(running.wsUrl, { token: undefined }); // anonymous: an operator
    await expect(client.publish('rt.a', 1)).rejects.toMatchObject({ code: 'unavailable' }); // still connecting
    await until('the client to open', () => client.status === 'open', 3000);
    const refused = await client.publish('rt.a', 1).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(HubError);
    expect(refused).toMatchObject({ code: 'forbidden' });
    // The connection goes on.
    expect((await client.request({ op: 'ping' })).op).toBe('ok');
  });

  it('#subscribe resumes across a dropped connection: nothing lost, nothing duplicated', async () => {
    const running = await hub();
    const { client, sockets, gate } = harness(running.wsUrl);
    const got: HubMessage[] = [];
    client.subscribe('drop.*', (m) => got.push(m));
    await until('the client to open', () => client.status === 'open', 3000);
    await subscribedAt(running, 'drop.*');
    for (let i = 1; i <= 5; i++) {
      await running.hub.publish('drop.a', { i });
      await running.hub.publish('drop.b', { i });
    }
    await until('the first ten messages', () => got.length === 10, 3000);

    // Down: messages published meanwhile, on known topics and a new one.
    gate.down = true;
    dropAll(running);
    await until('the client to see the drop', () => client.status !== 'open', 3000);
    for (let i = 6; i <= 10; i++) {
      await running.hub.publish('drop.a', { i });
      await running.hub.publish('drop.b', { i });
      await running.hub.publish('drop.c', { i });
    }
    gate.down = false;
    await until('the client to catch up', () => seqsOf(got, 'drop.a').length >= 10 && seqsOf(got, 'drop.b').length >= 10 && seqsOf(got, 'drop.c').length >= 5, 5000);

    // Dropped again while live messages keep coming.
    const before = sockets.length;
    for (let i = 11; i <= 200; i++) {
      await running.hub.publish('drop.a', { i });
      if (i % 50 === 0) dropAll(running);
      if (i % 10 === 0) await sleep(1); // let the client reconnect now and then
    }
    await until('drop.a to reach 200', () => got.filter((m) => m.topic === 'drop.a').at(-1)?.seq === 200, 5000);
    expect(sockets.length).toBeGreaterThan(before);
    expect(seqsOf(got, 'drop.a')).toEqual(range(1, 200));
    expect(seqsOf(got, 'drop.b')).toEqual(range(1, 10));
    expect(seqsOf(got, 'drop.c')).toEqual(range(1, 5));
    expect(got.filter((m) => m.topic === 'drop.c').map((m) => m.data)).toEqual(range(6, 10).map((i) => ({ i })));
  });

  it('#subscribe delivers a topic that started over at seq 1 (not dropped as a duplicate)', async () => {
    let offset = 0; // the broker's clock, moved by the test
    const broker = new MemoryBroker({ retention: [{ pattern: 'idle.>', maxMessages: 10, maxAgeSeconds: 1 }, ...defaultRetention], now: () => Date.now() + offset });
    const running = await hub({}, { broker });
    const { client } = harness(running.wsUrl);
    const got: HubMessage[] = [];
    client.subscribe('idle.*', (m) => got.push(m));
    await until('the client to open', () => client.status === 'open', 3000);
    await subscribedAt(running, 'idle.*');
    for (let i = 1; i <= 3; i++) await running.hub.publish('idle.a', { round: 1, i });
    await until('round one', () => got.length === 3, 3000);

    offset += 5_000; // idle past its max age: the sweep forgets it
    broker.sweep();
    expect(await broker.topics('idle.*')).toEqual([]);
    const restarted = await running.hub.publish('idle.a', { round: 2, i: 1 });
    expect(restarted.seq).toBe(1);
    await running.hub.publish('idle.a', { round: 2, i: 2 });
    await until('round two', () => got.length === 5, 3000);
    expect(got.map((m) => [m.seq, m.data])).toEqual([
      [1, { round: 1, i: 1 }],
      [2, { round: 1, i: 2 }],
      [3, { round: 1, i: 3 }],
      [1, { round: 2, i: 1 }],
      [2, { round: 2, i: 2 }],
    ]);
  });

  it('#subscribe after a hub restart on the same port gets a reset (new epoch) and goes on', async () => {
    const first = await hub();
    const port = first.port;
    const { client, welcomes, gate } = harness(first.wsUrl);
    const got: HubMessage[] = [];
    const resets: ResetFrame[] = [];
    client.subscribe('rs.*', (m) => got.push(m), { onReset: (r) => resets.push(r) });
    await until('the client to open', () => client.status === 'open', 3000);
    await subscribedAt(first, 'rs.*');
    for (let i = 1; i <= 3; i++) await first.hub.publish('rs.a', { before: i });
    await until('the messages before the restart', () => got.length === 3, 3000);

    gate.down = true;
    await first.close();
    const second = await hub({ port });
    expect(second.hub.epoch).not.toBe(first.hub.epoch);
    await second.hub.publish('rs.a', { after: 1 }); // the new hub's rs.a: seq 1 again
    gate.down = false;
    await until('the reset', () => resets.length > 0, 5000);
    expect(resets).toEqual([{ op: 'reset', topic: 'rs.a', epoch: second.hub.epoch, reason: 'epoch' }]);
    expect(welcomes.map((w) => w.epoch)).toEqual([first.hub.epoch, second.hub.epoch]);
    await until('the new rs.a message', () => got.length === 4, 3000);

    // And it goes on: live messages and publishes on the new hub.
    const { seq } = await client.publish('rs.a', { after: 2 });
    expect(seq).toBe(2);
    await until('the live message', () => got.length === 5, 3000);
    expect(got.map((m) => [m.seq, m.data])).toEqual([
      [1, { before: 1 }],
      [2, { before: 2 }],
      [3, { before: 3 }],
      [1, { after: 1 }],
      [2, { after: 2 }],
    ]);
    // A later drop resumes in the new epoch: no reset, no duplicate.
    dropAll(second);
    await until('the client to reconnect', () => welcomes.length === 3 && client.status === 'open', 3000);
    await subscribedAt(second, 'rs.*');
    await second.hub.publish('rs.a', { after: 3 });
    await until('the message after the drop', () => got.length === 6, 3000);
    expect(seqsOf(got, 'rs.a').slice(3)).toEqual([1, 2, 3]);
    expect(resets).toHaveLength(1);
  });

  it('#subscribe after a hub restart also gets topics it never saw that the new hub published before it came back', async () => {
    const first = await hub();
    const { client, gate } = harness(first.wsUrl);
    const got: HubMessage[] = [];
    const resets: ResetFrame[] = [];
    client.subscribe('gone.*', (m) => got.push(m), { onReset: (r) => resets.push(r) });
    await until('the client to open', () => client.status === 'open', 3000);
    await subscribedAt(first, 'gone.*');
    await first.hub.publish('gone.a', { n: 1 });
    await until('gone.a', () => got.length === 1, 3000);
    gate.down = true;
    await first.close();
    const second = await hub({ port: first.port });
    await second.hub.publish('gone.b', { n: 'new' }); // a topic the client never saw, in the new epoch
    gate.down = false;
    await until('gone.b from the new hub', () => got.some((m) => m.topic === 'gone.b'), 5000);
    expect(got.filter((m) => m.topic === 'gone.b').map((m) => [m.seq, m.data])).toEqual([[1, { n: 'new' }]]);
    expect(resets.map((r) => r.topic)).toEqual(['gone.a']);
  });

  it('#subscribe resumes more than MAX_SINCE_TOPICS topics without a duplicate (the rest replay from sinceTs)', async () => {
    const running = await hub({ rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });
    const { client } = harness(running.wsUrl);
    const got: HubMessage[] = [];
    client.subscribe('many.*', (m) => got.push(m));
    await until('the client to open', () => client.status === 'open', 3000);
    await subscribedAt(running, 'many.*');
    const topics = MAX_SINCE_TOPICS + 6;
    for (let i = 0; i < topics; i++) {
      await running.hub.publish(`many.t${i}`, { n: 1 });
      await running.hub.publish(`many.t${i}`, { n: 2 });
    }
    await until('every message', () => got.length === topics * 2, 10_000);
    dropAll(running);
    await until('the client to come back', () => client.status === 'open' && appConnections(running).length === 1, 5000);
    await subscribedAt(running, 'many.*');
    await running.hub.publish('many.marker', { last: true });
    await until('the marker', () => got.some((m) => m.topic === 'many.marker'), 10_000);
    const perTopic = new Map<string, number[]>();
    for (const m of got) perTopic.set(m.topic, [...(perTopic.get(m.topic) ?? []), m.seq]);
    const duplicated = [...perTopic].filter(([topic, seqs]) => topic !== 'many.marker' && seqs.join() !== '1,2');
    expect(duplicated).toEqual([]);
  }, 20_000);

  it('#request: pending requests reject when the connection drops, and the client reconnects', async () => {
    const running = await hub();
    const { client, welcomes } = harness(running.wsUrl);
    await until('the client to open', () => client.status === 'open', 3000);
    const publish = client.publish('pending.a', { n: 1 });
    const history = client.history('pending.a');
    dropAll(running); // before the hub reads the requests
    for (const pending of [publish, history]) {
      const err = await pending.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubError);
      expect(err).toMatchObject({ code: 'unavailable', message: 'connection to the hub lost' });
    }
    await until('the client to reconnect', () => welcomes.length === 2 && client.status === 'open', 3000);
    expect((await client.publish('pending.a', { n: 2 })).seq).toBe(1); // the first never reached the hub
  });

  it('#close stops reconnecting, also while waiting to retry', async () => {
    const running = await hub();
    const { client, sockets, statuses } = harness(running.wsUrl, { minBackoffMs: 10, maxBackoffMs: 20 });
    await until('the client to open', () => client.status === 'open', 3000);
    await running.close(); // the hub goes away: the client retries every 5..20 ms
    await until('some retries', () => sockets.length >= 4, 3000);
    client.close();
    expect(client.status).toBe('closed');
    const attempts = sockets.length;
    await sleep(150); // several backoff periods
    expect(sockets.length).toBe(attempts);
    expect(statuses.at(-1)).toBe('closed');
    await expect(client.publish('x', 1)).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('#close on an open client closes its socket with 1000 and never reconnects', async () => {
    const running = await hub();
    const { client, sockets } = harness(running.wsUrl);
    await until('the client to open', () => client.status === 'open', 3000);
    const closed = new Promise<number>((resolve) => sockets[0].once('close', (code) => resolve(code)));
    client.close();
    expect(await closed).toBe(1000);
    await until('the hub to let the connection go', () => appConnections(running).length === 0, 3000);
    await sleep(60); // a few backoff periods
    expect(sockets).toHaveLength(1);
    expect(appConnections(running)).toHaveLength(0);
  });

  it('reconnects with backoff: never sooner than minBackoffMs / 2, attempts counted until it opens', async () => {
    const running = await hub();
    const attempts: number[] = [];
    const { client, attemptsAt, gate } = harness(running.wsUrl, {
      minBackoffMs: 40,
      maxBackoffMs: 80,
      onStatus: (status, attempt) => status === 'connecting' && attempts.push(attempt),
    });
    await until('the client to open', () => client.status === 'open', 3000);
    expect(attempts).toEqual([0]);
    gate.down = true;
    const dropped = performance.now();
    dropAll(running);
    await until('four refused attempts', () => attemptsAt.length >= 5, 3000);
    gate.down = false;
    await until('the client to open again', () => client.status === 'open', 3000);
    const tried = attemptsAt.slice(1);
    const gaps = [tried[0] - dropped, ...tried.slice(1).map((t, i) => t - tried[i])];
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(20 - 2); // minBackoffMs / 2, less timer rounding
    expect(attempts.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    // After an open the count starts over.
    const mark = attempts.length;
    gate.down = true;
    dropAll(running);
    await until('two more attempts', () => attempts.length >= mark + 2, 3000);
    gate.down = false;
    expect(attempts.slice(mark, mark + 2)).toEqual([1, 2]);
    await until('the client to open at last', () => client.status === 'open', 3000);
  });

  it('never sleeps longer than the outage has lasted: each wait at most the time since the drop', async () => {
    const running = await hub();
    const { client, attemptsAt, gate } = harness(running.wsUrl, { minBackoffMs: 10, maxBackoffMs: 10_000 });
    await until('the client to open', () => client.status === 'open', 3000);
    gate.down = true;
    const dropped = performance.now();
    dropAll(running);
    await sleep(600); // doubling alone would reach ceilings of seconds within this outage
    gate.down = false;
    const returned = performance.now();
    await until('the client to open again', () => client.status === 'open', 5000);
    const tried = attemptsAt.slice(1);
    expect(tried.length).toBeGreaterThanOrEqual(5);
    const timerSlack = 60; // setTimeout fires late on a busy machine
    for (let i = 1; i < tried.length; i++) expect(tried[i] - tried[i - 1]).toBeLessThanOrEqual(Math.max(10, tried[i - 1] - dropped) + timerSlack);
    expect(tried.at(-1)! - returned).toBeLessThanOrEqual(600 + timerSlack + 100);
  });

  it('validates the backoff options with a RangeError, before connecting', () => {
    const connect = vi.fn();
    for (const backoff of [{ minBackoffMs: 0 }, { minBackoffMs: -5 }, { minBackoffMs: Number.NaN }, { minBackoffMs: 100, maxBackoffMs: 99 }, { maxBackoffMs: 10 }]) {
      expect(() => new HubClient({ url: 'ws://127.0.0.1:1/ws', connect, ...backoff })).toThrow(RangeError);
    }
    expect(() => new HubClient({ url: 'ws://127.0.0.1:1/ws', connect, minBackoffMs: 0 })).toThrow(/minBackoffMs/);
    expect(connect).not.toHaveBeenCalled();
  });

  it('#subscribe: one handler per pattern, and a handler that throws harms no other', async () => {
    const running = await hub();
    const { client } = harness(running.wsUrl);
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    cleanups.push(() => errors.mockRestore());
    const old: HubMessage[] = [];
    const replaced: HubMessage[] = [];
    const other: HubMessage[] = [];
    const unsubscribeOld = client.subscribe('one.*', (m) => old.push(m));
    client.subscribe('one.*', (m) => replaced.push(m));
    client.subscribe('one.>', () => {
      throw new Error('handler bug');
    });
    client.subscribe('*.a', (m) => other.push(m));
    unsubscribeOld(); // the replaced subscription's unsubscribe is a no-op
    await until('the client to open', () => client.status === 'open', 3000);
    await subscribedAt(running, '*.a');
    await subscribedAt(running, 'one.>');
    expect(appConnections(running)[0].subs.has('one.*')).toBe(true);
    await running.hub.publish('one.a', { n: 1 });
    await until('both live handlers', () => replaced.length === 1 && other.length === 1, 3000);
    expect(old).toEqual([]);
    expect(errors).toHaveBeenCalledWith(expect.stringContaining('one.>'), expect.any(Error));
  });
});

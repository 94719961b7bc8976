/**
 * runSimulator against a minimal stand-in hub (app mode: welcome, ok/error replies to pub), so
 * connect, outage and resume behaviour is tested without depending on the real hub's internals.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { testConfig } from '../../server/config.ts';
import type { Fill, PnlSnapshot, Tick } from '../../server/protocol/feeds.ts';
import type { HubMessage } from '../../server/protocol/wire.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/main.ts';

interface FakeHub {
  port: number;
  received: { topic: string; data: unknown }[];
  /** Query strings of the upgrade requests. */
  upgrades: string[];
  close(): Promise<void>;
}

async function startFakeHub(port = 0, refuse?: string, requireToken?: string): Promise<FakeHub> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port,
    handleProtocols: (protocols) => (protocols.has('hub.v1') ? 'hub.v1' : false),
    // Like the real hub: a wrong token is turned down at the upgrade with a 401.
    verifyClient: (info, done) => done(!requireToken || new URL(info.req.url ?? '/', 'http://x').searchParams.get('token') === requireToken, 401),
  });
  await new Promise<void>((resolve, reject) => wss.once('listening', resolve).once('error', reject));
  const hub: FakeHub = {
    port: (wss.address() as AddressInfo).port,
    received: [],
    upgrades: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
  let seq = 0;
  wss.on('connection', (socket, req) => {
    hub.upgrades.push(req.url ?? '');
    socket.send(JSON.stringify({ op: 'welcome', v: 1, epoch: 'e1', role: 'publisher', maxPayload: 65536 }));
    socket.on('message', (raw) => {
      const req = JSON.parse(String(raw)) as { op: string; id: number; topic: string; data: unknown };
      if (req.op !== 'pub') return socket.send(JSON.stringify({ op: 'error', id: req.id, code: 'unknown_op', message: req.op }));
      if (refuse) return socket.send(JSON.stringify({ op: 'error', id: req.id, code: refuse, message: 'publish key required' }));
      hub.received.push({ topic: req.topic, data: req.data });
      socket.send(JSON.stringify({ op: 'ok', id: req.id, seq: ++seq, ts: Date.now() }));
    });
  });
  return hub;
}

async function freePort(): Promise<number> {
  const hub = await startFakeHub();
  await hub.close();
  return hub.port;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
  };
}

const count = (lines: string[], re: RegExp) => lines.filter((l) => re.test(l)).length;

describe('runSimulator', () => {
  let running: RunningSimulator | null = null;
  const hubs: FakeHub[] = [];

  afterEach(async () => {
    await running?.stop();
    running = null;
    await Promise.all(hubs.splice(0).map((h) => h.close()));
  });

  it('publishes every feed to the hub with the publish key', async () => {
    const hub = await startFakeHub();
    hubs.push(hub);
    const log = captureLogger();
    running = runSimulator({ hubUrl: `ws://127.0.0.1:${hub.port}/ws`, key: 'test-key-123', rate: 100, symbols: ['AAPL', 'BTC-USD'], logger: log });

    await waitFor('a fill', () => hub.received.some((m) => m.topic === 'fills'));
    const topics = new Set(hub.received.map((m) => m.topic));
    for (const t of ['ticks.AAPL', 'ticks.BTC-USD', 'bars.1s.AAPL', 'bars.1s.BTC-USD', 'fills', 'pnl']) expect(topics).toContain(t);
    expect(hub.upgrades[0]).toContain('token=test-key-123');
    expect(count(log.lines, /^info connected to hub at ws:\/\/127\.0\.0\.1:\d+\/ws$/)).toBe(1);
    expect(log.lines.join('\n')).not.toContain('test-key-123'); // the key stays out of the logs

    const tick = hub.received.find((m) => m.topic === 'ticks.AAPL')!.data as Tick;
    expect(tick.bid).toBeLessThan(tick.ask);
    const fill = hub.received.find((m) => m.topic === 'fills')!.data as Fill;
    expect(fill.id).toBe(1);
    const pnl = hub.received.filter((m) => m.topic === 'pnl').at(-1)!.data as PnlSnapshot;
    expect(pnl.positions.length).toBeGreaterThan(0);

    await running.stop();
    const stats = running.stats();
    expect(stats.acked).toBe(stats.sent);
    expect(stats.acked).toBe(hub.received.length);
    expect(log.lines.at(-1)).toMatch(/^info stopped: \d+ messages confirmed/);
    const after = hub.received.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(hub.received.length).toBe(after); // nothing after stop
  });

  it('drops quietly while the hub is away, logs once per outage, and resumes', async () => {
    const port = await freePort();
    const log = captureLogger();
    running = runSimulator({ hubUrl: `ws://127.0.0.1:${port}/ws`, key: 'k', rate: 50, symbols: ['AAPL'], logger: log, minBackoffMs: 20, maxBackoffMs: 100 });
    const sim = running.simulator;

    // Hub not up yet: the model runs, messages are dropped, one warning.
    await waitFor('drops', () => running!.stats().dropped > 50);
    expect(count(log.lines, /^warn hub at .* is not reachable/)).toBe(1);

    const first = await startFakeHub(port);
    hubs.push(first);
    await waitFor('first messages', () => first.received.length > 20);
    expect(count(log.lines, /reconnected to hub .* dropped \d+ messages/)).toBe(1);

    // Hub goes away mid-stream.
    await first.close();
    hubs.splice(hubs.indexOf(first), 1);
    const ticksAtOutage = sim.stats().ticks;
    const droppedAtOutage = running.stats().dropped;
    await waitFor('drops during outage', () => running!.stats().dropped > droppedAtOutage + 50);
    expect(sim.stats().ticks).toBeGreaterThan(ticksAtOutage + 15); // the model kept going (2 messages per tick)
    expect(count(log.lines, /^warn disconnected from hub/)).toBe(1);

    const second = await startFakeHub(port);
    hubs.push(second);
    await waitFor('messages after the outage', () => second.received.length > 20);
    expect(count(log.lines, /reconnected to hub .* dropped \d+ messages/)).toBe(2);
    // Still exactly one warning per outage, however many messages were dropped.
    expect(count(log.lines, /^warn /)).toBe(2);
    expect(count(log.lines, /^error /)).toBe(0);

    // State carried over: fill ids continue across hubs rather than restart.
    const ids = (h: FakeHub) => h.received.filter((m) => m.topic === 'fills').map((m) => (m.data as Fill).id);
    const all = [...ids(first), ...ids(second)];
    expect(all).toEqual([...all].sort((a, b) => a - b));
    expect(new Set(all).size).toBe(all.length);
  });

  it('logs a refused publish once per code, with a hint about the key', async () => {
    const hub = await startFakeHub(0, 'forbidden');
    hubs.push(hub);
    const log = captureLogger();
    running = runSimulator({ hubUrl: `ws://127.0.0.1:${hub.port}/ws`, key: 'wrong-key', rate: 50, symbols: ['AAPL'], logger: log });
    await waitFor('refusals', () => (running!.stats().refused.forbidden ?? 0) > 20);
    const errors = log.lines.filter((l) => l.startsWith('error '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/forbidden.*HUB_PUBLISH_KEY/);
  });

  it('says why it cannot connect, and says it again only when the reason changes', async () => {
    const port = await freePort();
    const log = captureLogger();
    running = runSimulator({ hubUrl: `ws://127.0.0.1:${port}/ws`, key: 'wrong-key', rate: 20, symbols: ['AAPL'], logger: log, minBackoffMs: 20, maxBackoffMs: 50 });
    await waitFor('the first warning', () => log.lines.length >= 2);
    await new Promise((r) => setTimeout(r, 300)); // several more failed attempts
    expect(log.lines.filter((l) => l.startsWith('warn '))).toEqual([expect.stringMatching(/not reachable \(connect ECONNREFUSED/)]);

    const hub = await startFakeHub(port, undefined, 'right-key');
    hubs.push(hub);
    await waitFor('the key warning', () => log.lines.some((l) => /still unavailable/.test(l)));
    await new Promise((r) => setTimeout(r, 300));
    const warnings = log.lines.filter((l) => l.startsWith('warn '));
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/still unavailable \(Unexpected server response: 401 - the hub refused the publish key; check HUB_PUBLISH_KEY/);
    expect(hub.received).toEqual([]);
  });

  it('throws on bad options without opening a connection', async () => {
    const hub = await startFakeHub();
    hubs.push(hub);
    expect(() => runSimulator({ hubUrl: `ws://127.0.0.1:${hub.port}/ws`, symbols: ['NOPE'], logger: captureLogger() })).toThrow(/unknown symbol "NOPE"/);
    expect(() => runSimulator({ hubUrl: `ws://127.0.0.1:${hub.port}/ws`, rate: 0, logger: captureLogger() })).toThrow(/ticksPerSecond/);
    await new Promise((r) => setTimeout(r, 200));
    expect(hub.upgrades).toEqual([]);
  });

  it('stops promptly even when the hub never came up', async () => {
    const port = await freePort();
    running = runSimulator({ hubUrl: `ws://127.0.0.1:${port}/ws`, rate: 10, symbols: ['EURUSD'], logger: captureLogger() });
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await running.stop();
    expect(Date.now() - started).toBeLessThan(500);
    expect(running.simulator.running).toBe(false);
  });
});

describe('runSimulator with the real hub', () => {
  const KEY = 'simulator-e2e-key';
  let hub: RunningHub | null = null;
  let running: RunningSimulator | null = null;

  afterEach(async () => {
    await running?.stop();
    running = null;
    await hub?.close();
    hub = null;
  });

  it('feeds a tap with every topic, in order, within the default rate limit', async () => {
    hub = await startHub(testConfig({ publishKey: KEY }));
    const tap = new WebSocket(`${hub.wsUrl}/ticks.*,bars.>,fills,pnl`);
    const got: HubMessage[] = [];
    tap.on('message', (raw) => got.push(JSON.parse(String(raw)) as HubMessage));
    await new Promise((resolve, reject) => tap.once('open', resolve).once('error', reject));

    const log = captureLogger();
    // Default symbols and rate: what `npm start` runs.
    running = runSimulator({ hubUrl: hub.wsUrl, key: KEY, logger: log });
    await waitFor('3 s of ticks', () => got.filter((m) => m.topic === 'ticks.AAPL').length >= 15);
    tap.close();

    const topics = new Set(got.map((m) => m.topic));
    for (const sym of ['AAPL', 'MSFT', 'NVDA', 'BTC-USD', 'ETH-USD', 'EURUSD']) {
      expect(topics).toContain(`ticks.${sym}`);
      expect(topics).toContain(`bars.1s.${sym}`);
    }
    expect(topics).toContain('pnl');
    // Per-topic seqs arrive without gaps: nothing was refused or dropped on the way.
    const bySeq = new Map<string, number[]>();
    for (const m of got) bySeq.set(m.topic, [...(bySeq.get(m.topic) ?? []), m.seq]);
    for (const [topic, seqs] of bySeq) expect(seqs, topic).toEqual(seqs.map((_, i) => seqs[0] + i));
    const tick = got.find((m) => m.topic === 'ticks.EURUSD')!.data as Tick;
    expect(tick).toMatchObject({ symbol: 'EURUSD' });
    expect(tick.ask).toBeGreaterThan(tick.bid);
    expect(running.stats().refused).toEqual({});
    expect(log.lines.filter((l) => !l.startsWith('info '))).toEqual([]);
  });
});

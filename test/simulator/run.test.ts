/**
 * runSimulator against a minimal stand-in hub (app mode: welcome, ok/error replies to pub), so
 * connect, outage and resume behaviour is tested without depending on the real hub's internals.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { testConfig } from '../../server/config.ts';
import { MemoryBroker } from '../../server/broker/memory.ts';
import type { Bar, Fill, PnlSnapshot, Tick } from '../../protocol/feeds.ts';
import type { HubMessage } from '../../protocol/wire.ts';
import { startHub, type RunningHub } from '../../server/server.ts';
import { runSimulator, type Logger, type RunningSimulator } from '../../simulator/main.ts';
import { until } from '../support/until.ts';

interface FakeHub {
  port: number;
  received: { topic: string; data: unknown }[];
  /** Query strings of the upgrade requests. */
  upgrades: string[];
  /** Most publishes received and not yet answered at any one time. */
  maxOutstanding: number;
  close(): Promise<void>;
}

interface FakeHubBehaviour {
  /** Never answer a publish (a hub that hangs, then goes away). */
  silent?: boolean;
  /** Answer each publish after this long. */
  replyDelayMs?: number;
}

async function startFakeHub(port = 0, refuse?: string, requireToken?: string, behaviour: FakeHubBehaviour = {}): Promise<FakeHub> {
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
    maxOutstanding: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
  let seq = 0;
  let outstanding = 0;
  wss.on('connection', (socket, req) => {
    hub.upgrades.push(req.url ?? '');
    socket.send(JSON.stringify({ op: 'welcome', v: 1, epoch: 'e1', role: 'publisher', maxPayload: 65536 }));
    socket.on('message', (raw) => {
      const req = JSON.parse(String(raw)) as { op: string; id: number; topic: string; data: unknown };
      if (req.op !== 'pub') return socket.send(JSON.stringify({ op: 'error', id: req.id, code: 'unknown_op', message: req.op }));
      if (refuse) return socket.send(JSON.stringify({ op: 'error', id: req.id, code: refuse, message: 'publish key required' }));
      hub.received.push({ topic: req.topic, data: req.data });
      if (behaviour.silent) return;
      const reply = () => {
        outstanding--;
        socket.send(JSON.stringify({ op: 'ok', id: req.id, seq: ++seq, ts: Date.now() }));
      };
      hub.maxOutstanding = Math.max(hub.maxOutstanding, ++outstanding);
      if (behaviour.replyDelayMs) setTimeout(reply, behaviour.replyDelayMs);
      else reply();
    });
  });
  return hub;
}

async function freePort(): Promise<number> {
  const hub = await startFakeHub();
  await hub.close();
  return hub.port;
}


function captureLogger(): Logger & { lines: string[]; at: number[] } {
  const lines: string[] = [];
  const at: number[] = [];
  const push = (line: string) => {
    lines.push(line);
    at.push(Date.now());
  };
  return {
    lines,
    /** When each line was logged (Unix ms). */
    at,
    info: (m) => push(`info ${m}`),
    warn: (m) => push(`warn ${m}`),
    error: (m) => push(`error ${m}`),
  };
}

const count = (lines: string[], re: RegExp) => lines.filter((l) => re.test(l)).length;

const REPLAYED = /^info replayed \d+ backlogged messages \(\d+ bars, \d+ fills, \d+ pnl, \d+ trades\)/;

/** Topic -> bar times in the order received. */
function barTimes(msgs: { topic: string; data: unknown }[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of msgs) if (m.topic.startsWith('bars.1s.')) out.set(m.topic, [...(out.get(m.topic) ?? []), (m.data as Bar).time]);
  return out;
}

const fillIds = (msgs: { topic: string; data: unknown }[]) => msgs.filter((m) => m.topic === 'fills').map((m) => (m.data as Fill).id);

/** The integers between the smallest and the largest of `xs` that are not in `xs` (a hole). */
function missing(xs: Iterable<number>): number[] {
  const set = new Set(xs);
  const out: number[] = [];
  for (let x = Math.min(...set); x < Math.max(...set); x++) if (!set.has(x)) out.push(x);
  return out;
}

/** Neighbours out of order: `[a, b]` where b < a (or b <= a when `strict`). */
function outOfOrder(xs: number[], strict = false): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < xs.length; i++) if (strict ? xs[i] <= xs[i - 1] : xs[i] < xs[i - 1]) out.push([xs[i - 1], xs[i]]);
  return out;
}

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

    // A fill, and the pnl published right after it (the one before may be a heartbeat without positions).
    const pnlAfterFill = () => {
      const i = hub.received.findIndex((m) => m.topic === 'fills');
      return i >= 0 && hub.received.slice(i).some((m) => m.topic === 'pnl');
    };
    await until('a fill and its pnl', pnlAfterFill);
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

  it('drops ticks while the hub is away, backlogs bars, fills and pnl, logs once per outage, and replays', async () => {
    const port = await freePort();
    const log = captureLogger();
    running = runSimulator({
      hubUrl: `ws://127.0.0.1:${port}/ws`,
      key: 'k',
      rate: 50,
      symbols: ['AAPL'],
      strategy: { window: 10, entryZ: 1, cooldownTicks: 3 }, // fills every few ticks
      logger: log,
      minBackoffMs: 20,
      maxBackoffMs: 100,
    });
    const sim = running.simulator;

    // Hub not up yet: the model runs, ticks are dropped, the rest backlogged, one warning.
    await until('drops', () => running!.stats().dropped > 25);
    expect(count(log.lines, /^warn hub at .* is not reachable/)).toBe(1);
    expect(running.stats().backlog).toBeGreaterThan(0);

    const first = await startFakeHub(port);
    hubs.push(first);
    await until('first messages', () => first.received.length > 20);
    expect(count(log.lines, /reconnected to hub .* dropped \d+ messages meanwhile, replaying \d+ backlogged$/)).toBe(1);
    await until('the replay', () => count(log.lines, REPLAYED) === 1);

    // Hub goes away mid-stream.
    const outageAt = Math.floor(Date.now() / 1000);
    await first.close();
    hubs.splice(hubs.indexOf(first), 1);
    const ticksAtOutage = sim.stats().ticks;
    const droppedAtOutage = running.stats().dropped;
    // Dropped per tick: the tick and the book's two messages (its trade is backlogged).
    await until('drops during outage', () => running!.stats().dropped > droppedAtOutage + 3 * 60);
    expect(sim.stats().ticks).toBeGreaterThan(ticksAtOutage + 40); // the model kept going
    expect(count(log.lines, /^warn disconnected from hub/)).toBe(1);

    const second = await startFakeHub(port);
    hubs.push(second);
    await until('messages after the outage', () => second.received.length > 20);
    await until('the second replay', () => count(log.lines, REPLAYED) === 2);
    expect(count(log.lines, /reconnected to hub .* dropped \d+ messages/)).toBe(2);
    // Still exactly one warning per outage, however many messages were dropped.
    expect(count(log.lines, /^warn /)).toBe(2);
    expect(count(log.lines, /^error /)).toBe(0);
    await new Promise((r) => setTimeout(r, 300)); // some live data on the second hub

    // No ticks before the first connect or during the outage, but every bar second.
    const times = [...(barTimes(first.received).get('bars.1s.AAPL') ?? []), ...(barTimes(second.received).get('bars.1s.AAPL') ?? [])];
    expect(missing(times)).toEqual([]);
    expect(Math.min(...times)).toBeLessThanOrEqual(outageAt); // bars from before the outage, not only after it
    for (const h of [first, second]) expect(outOfOrder(barTimes(h.received).get('bars.1s.AAPL')!)).toEqual([]);

    // State carried over: fill ids continue across hubs rather than restart, none lost, none twice on a hub.
    const ids = [...fillIds(first.received), ...fillIds(second.received)];
    expect(ids.length).toBeGreaterThan(0);
    for (const h of [first, second]) expect(outOfOrder(fillIds(h.received), true)).toEqual([]);
    expect(missing([0, ...ids])).toEqual([]);
    expect(second.received.some((m) => m.topic === 'pnl')).toBe(true);

    await running.stop();
    const stats = running.stats();
    expect(stats.replayed).toBeGreaterThan(0);
    expect(stats.backlog).toBe(0);
    expect(stats.evicted).toBe(0);
    expect(stats.backlogged).toBe(stats.replayed + stats.superseded + stats.evicted + stats.backlog);
  });

  it('backlogs publishes the hub never confirmed, holds back bars while it is slow, and replays within maxInFlight', async () => {
    const port = await freePort();
    const silent = await startFakeHub(port, undefined, undefined, { silent: true });
    hubs.push(silent);
    const log = captureLogger();
    running = runSimulator({
      hubUrl: `ws://127.0.0.1:${port}/ws`,
      key: 'k',
      rate: 50,
      symbols: ['AAPL', 'BTC-USD'],
      strategy: { window: 10, entryZ: 1, cooldownTicks: 3 },
      maxInFlight: 30,
      logger: log,
      minBackoffMs: 20,
      maxBackoffMs: 100,
    });

    // The hub takes publishes and never answers: 30 go out, then bars, fills and pnl wait.
    await until('maxInFlight publishes', () => silent.received.length >= 30);
    await new Promise((r) => setTimeout(r, 1200));
    expect(silent.received).toHaveLength(30);
    expect(count(log.lines, /^warn hub is slow: 30 publishes unconfirmed/)).toBe(1);
    const held = running.stats().backlog;
    expect(held).toBeGreaterThan(2); // a bar per symbol per second, and pnl

    // It goes away: the 30 unconfirmed ones join the backlog, and all of it goes to the next hub.
    await silent.close();
    hubs.splice(hubs.indexOf(silent), 1);
    const next = await startFakeHub(port, undefined, undefined, { replyDelayMs: 5 });
    hubs.push(next);
    await until('the replay', () => count(log.lines, REPLAYED) === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(next.maxOutstanding).toBeLessThanOrEqual(30);

    for (const sym of ['AAPL', 'BTC-USD']) {
      const before = barTimes(silent.received).get(`bars.1s.${sym}`) ?? [];
      const after = barTimes(next.received).get(`bars.1s.${sym}`)!;
      expect(outOfOrder(after), sym).toEqual([]);
      expect(missing(after), sym).toEqual([]);
      // Every second the silent hub saw (and never confirmed) is on the next hub, once replayed.
      for (const t of before) expect(after, sym).toContain(t);
      expect(after[0], sym).toBeLessThanOrEqual(Math.min(...before));
    }
    const unconfirmed = fillIds(silent.received);
    const replayed = fillIds(next.received);
    expect(outOfOrder(replayed, true)).toEqual([]);
    for (const id of unconfirmed) expect(replayed).toContain(id);
    expect(replayed[0] ?? 1).toBe(1);
    expect(count(log.lines, /^error /)).toBe(0);
  });

  it('logs a refused publish once per code, with a hint about the key, and does not retry it', async () => {
    const hub = await startFakeHub(0, 'forbidden');
    hubs.push(hub);
    const log = captureLogger();
    running = runSimulator({ hubUrl: `ws://127.0.0.1:${hub.port}/ws`, key: 'wrong-key', rate: 50, symbols: ['AAPL'], logger: log });
    await until('refusals', () => (running!.stats().refused.forbidden ?? 0) > 20);
    const errors = log.lines.filter((l) => l.startsWith('error '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/forbidden.*HUB_PUBLISH_KEY/);
    await running.stop();
    const stats = running.stats();
    expect(stats.refused.forbidden).toBe(stats.sent); // each message once: refused ones are not retried
    expect(stats.backlog).toBe(0);
  });

  it('says why it cannot connect, and says it again only when the reason changes', async () => {
    const port = await freePort();
    const log = captureLogger();
    running = runSimulator({ hubUrl: `ws://127.0.0.1:${port}/ws`, key: 'wrong-key', rate: 20, symbols: ['AAPL'], logger: log, minBackoffMs: 20, maxBackoffMs: 50 });
    await until('the first warning', () => log.lines.length >= 2);
    await new Promise((r) => setTimeout(r, 300)); // several more failed attempts
    expect(log.lines.filter((l) => l.startsWith('warn '))).toEqual([expect.stringMatching(/not reachable \(connect ECONNREFUSED/)]);

    const hub = await startFakeHub(port, undefined, 'right-key');
    hubs.push(hub);
    await until('the key warning', () => log.lines.some((l) => /still unavailable/.test(l)));
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
    const tap = new WebSocket(`${hub.wsUrl}/ticks.*,trades.*,bars.>,book.>,fills,pnl`);
    const frames: Record<string, unknown>[] = [];
    tap.on('message', (raw) => frames.push(JSON.parse(String(raw))));
    await new Promise((resolve, reject) => tap.once('open', resolve).once('error', reject));
    const got = frames as unknown as HubMessage[];

    const log = captureLogger();
    // Default symbols and rate: what `npm start` runs.
    running = runSimulator({ hubUrl: hub.wsUrl, key: KEY, logger: log });
    await until('3 s of ticks', () => got.filter((m) => m.topic === 'ticks.AAPL').length >= 15);
    tap.close();
    expect(got.shift()).toMatchObject({ op: 'welcome', epoch: hub.hub.epoch }); // a tap's first frame, then messages only

    const topics = new Set(got.map((m) => m.topic));
    for (const sym of ['AAPL', 'MSFT', 'NVDA', 'BTC-USD', 'ETH-USD', 'EURUSD']) {
      expect(topics).toContain(`ticks.${sym}`);
      for (const t of [`bars.1s.${sym}`, `bars.1m.${sym}`, `trades.${sym}`, `book.${sym}`, `book.snapshot.${sym}`]) expect(topics).toContain(t);
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

describe('runSimulator warm start through the real hub', () => {
  const KEY = 'simulator-warm-key';
  let hub: RunningHub | null = null;
  let running: RunningSimulator | null = null;

  afterEach(async () => {
    await running?.stop();
    running = null;
    await hub?.close();
    hub = null;
  });

  it('publishes the seeded history first, cut to HISTORY, then goes live with no hole', async () => {
    const config = testConfig({ publishKey: KEY });
    hub = await startHub(config);
    const log = captureLogger();
    const startedAt = Date.now();
    // As `npm start` runs it (the default rate, the hub's own HISTORY rules), on two symbols.
    running = runSimulator({ hubUrl: hub.wsUrl, key: KEY, logger: log, symbols: ['AAPL', 'BTC-USD'], warm: { retention: config.retention } });
    await until('the warm start', () => log.lines.find((l) => /^info warm start: published \d+ messages/.test(l)), 40_000);
    const tookMs = Date.now() - startedAt;
    await new Promise((r) => setTimeout(r, 1500)); // live on top
    const history = async (topic: string) => {
      const res = await fetch(`${hub!.httpUrl}/api/history/${topic}?limit=10000`);
      return ((await res.json()) as { messages: HubMessage[] }).messages.map((m) => m.data as Bar);
    };
    const now = Math.floor(Date.now() / 1000);
    const seconds = await history('bars.1s.AAPL');
    const times = [...new Set(seconds.map((b) => b.time))];
    expect(times[0]).toBeLessThanOrEqual(now - 3600);
    expect(times.at(-1)).toBeGreaterThanOrEqual(now - 1);
    expect(missing(times)).toEqual([]); // history, catch-up and live meet without a hole
    expect(outOfOrder(seconds.map((b) => b.time))).toEqual([]);
    const hours = await history('bars.1h.BTC-USD');
    expect(hours[0].time).toBeLessThanOrEqual(now - 23 * 3600);
    expect((await history('bars.1m.BTC-USD')).length).toBeGreaterThanOrEqual(1440);
    expect(running.stats().refused).toEqual({});
    expect(log.lines.filter((l) => !l.startsWith('info '))).toEqual([]);
    console.log(`warm start of two symbols through the real hub: ${tookMs} ms (${log.lines.find((l) => l.includes('warm start:'))})`);
  }, 60_000);
});

describe('runSimulator across a restart of the real hub', () => {
  const KEY = 'simulator-restart-key';
  let hub: RunningHub | null = null;
  let running: RunningSimulator | null = null;

  afterEach(async () => {
    await running?.stop();
    running = null;
    await hub?.close();
    hub = null;
  });

  async function history(h: RunningHub, topic: string): Promise<HubMessage[]> {
    const res = await fetch(`${h.httpUrl}/api/history/${topic}?limit=1000`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { messages: HubMessage[] }).messages;
  }

  /** A memory broker whose history outlives the hub's close(): exactly what the old hub stored. */
  class KeptBroker extends MemoryBroker {
    override async close(): Promise<void> {}
    async stored(topic: string): Promise<HubMessage[]> {
      return (await this.history(topic, {})).messages.map((e) => JSON.parse(e.json) as HubMessage);
    }
  }

  it('replays the outage backlog to the new hub: every bar second, each fill once, nothing twice', async () => {
    const config = testConfig({ publishKey: KEY });
    const oldBroker = new KeptBroker({ retention: config.retention });
    hub = await startHub(config, { broker: oldBroker });
    const port = hub.port;
    const log = captureLogger();
    running = runSimulator({
      hubUrl: hub.wsUrl,
      key: KEY,
      rate: 20,
      symbols: ['AAPL', 'BTC-USD'],
      strategy: { window: 10, entryZ: 1, cooldownTicks: 3 },
      logger: log,
      minBackoffMs: 50,
      maxBackoffMs: 200,
    });

    // Bars flow to the first hub for a while.
    await new Promise((r) => setTimeout(r, 1300));
    expect((await history(hub, 'bars.1s.AAPL')).length).toBeGreaterThan(10);

    // Restart: the hub is gone for ~1.5 s, then a new one (empty history, new epoch) on the same port.
    const closedAt = Date.now();
    await hub.close();
    hub = null;
    const oldMsgs = await oldBroker.stored('bars.1s.AAPL');
    const oldBars = oldMsgs.map((m) => (m.data as Bar).time);
    const oldFills = (await oldBroker.stored('fills')).map((m) => (m.data as Fill).id);
    const oldLast = oldBars.at(-1)!;
    await new Promise((r) => setTimeout(r, 1500));
    expect(running.stats().backlog).toBeGreaterThan(0);
    hub = await startHub(testConfig({ publishKey: KEY, port }));
    await until('the reconnect', () => count(log.lines, /^info reconnected to hub .* replaying \d+ backlogged$/) === 1);
    const reconnectedAt = log.at[log.lines.findIndex((l) => l.startsWith('info reconnected'))];
    await until('the replay', () => log.lines.slice(log.lines.findIndex((l) => l.startsWith('info reconnected'))).some((l) => REPLAYED.test(l)));
    await new Promise((r) => setTimeout(r, 1200)); // live bars on the new hub
    const now = Math.floor(Date.now() / 1000);

    const newMsgs = await history(hub, 'bars.1s.AAPL');
    const newBars = newMsgs.map((m) => (m.data as Bar).time);
    // Bar times arrive in order and cover every second from the old hub's last bar until now.
    expect(outOfOrder(newBars)).toEqual([]);
    expect(missing(newBars)).toEqual([]);
    expect(newBars[0]).toBeLessThanOrEqual(oldLast + 1); // no missing second between the hubs
    expect(newBars[0]).toBeGreaterThanOrEqual(oldLast - 1); // and no old bars the first hub had confirmed
    expect(newBars[0]).toBeLessThanOrEqual(Math.floor(closedAt / 1000)); // the whole outage window
    expect(newBars.at(-1)).toBeGreaterThanOrEqual(now - 1);
    expect(missing([...oldBars, ...newBars])).toEqual([]);
    // Seconds that ended before the reconnect (the outage, and the one in progress when the hub
    // went away) came from the backlog only: one message each, the latest version of the bar.
    const reconnectSecond = Math.floor(reconnectedAt / 1000);
    expect(reconnectSecond).toBeGreaterThan(Math.floor(closedAt / 1000));
    for (let t = newBars[0]; t < reconnectSecond; t++) expect(newBars.filter((x) => x === t), `second ${t}`).toHaveLength(1);
    // The bar in progress when the hub went away: the new hub's is a later version of the old hub's.
    const oldAtClose = oldMsgs.filter((m) => (m.data as Bar).time === oldLast).at(-1)!.data as Bar;
    const newAtClose = newMsgs.find((m) => (m.data as Bar).time === oldLast)?.data as Bar | undefined;
    if (newAtClose) {
      expect(newAtClose.open).toBe(oldAtClose.open);
      expect(newAtClose.volume).toBeGreaterThanOrEqual(oldAtClose.volume);
      expect(newAtClose.high).toBeGreaterThanOrEqual(oldAtClose.high);
      expect(newAtClose.low).toBeLessThanOrEqual(oldAtClose.low);
    }

    // Fills: each once on the new hub, in id order, and none lost across the two.
    const newFills = (await history(hub, 'fills')).map((m) => (m.data as Fill).id);
    expect(newFills.length).toBeGreaterThan(0);
    expect(outOfOrder(newFills, true)).toEqual([]);
    expect(missing([0, ...oldFills, ...newFills])).toEqual([]);
    expect((await history(hub, 'pnl')).length).toBeGreaterThan(0);

    const stats = running.stats();
    expect(stats.replayed).toBeGreaterThan(0);
    expect(stats.refused).toEqual({});
    expect(stats.evicted).toBe(0);
    expect(log.lines.filter((l) => l.startsWith('error '))).toEqual([]);
  });
});

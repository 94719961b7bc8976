/**
 * A rolling restart and a kill -9 through each documented proxy config (deploy/nginx.conf,
 * deploy/haproxy.cfg): three hub processes on one Redis (DRAIN_MS=1000), a publisher POSTing
 * steadily through the proxy over four topics, and clients through the proxy:
 *
 * - six wildcard taps that resume the way docs/protocol.md tells a tap user to: on every close each
 *   reopens `/ws/deploy.roll.*?epoch=<welcome epoch>&since=<topic>:<seq>,..&sinceTs=<first
 *   welcome's ts>` and keeps no duplicate filter of its own, so a duplicate is the hub's;
 * - an app-mode `HubClient` with its default backoff.
 *
 * Each node in turn gets SIGTERM, drains (1012), exits, and is started again on its port
 * before the next; then the first tap's node is killed with SIGKILL and started again. Every
 * client must end with every message of every topic exactly once, in seq order; every reconnect
 * (close to the next welcome) must take less than a second; and no reconnect may be refused: a
 * balancer that hands reconnects to the draining node's 503 (HAProxy's leastconn did, until
 * deploy/haproxy.cfg retried 503s on another node) fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type WebSocketLike } from '../../client/hub-client.ts';
import type { WelcomeFrame } from '../../protocol/wire.ts';
import { KEY, startCluster, stopCluster, type ProxyCluster } from '../support/behind-proxy.ts';
import { spawnHub } from '../support/hub-process.ts';
import type { ProxyKind } from '../support/proxies.ts';
import { sleep, until } from '../support/until.ts';

const TOPICS = ['deploy.roll.a', 'deploy.roll.b', 'deploy.roll.c', 'deploy.roll.d'];
const DRAIN_MS = 1000;
/** Resuming taps: enough that least-connections sends reconnects to a draining node (it has the fewest). */
const TAPS = 6;
const NODE_ENV = { DRAIN_MS: String(DRAIN_MS), MAX_CONNECTIONS_PER_IP: '' };

/** What a client saw: seqs per topic in arrival order, and how long each reconnect took. */
interface Seen {
  seqs: Map<string, number[]>;
  reconnectMs: number[];
  closes: number[];
}

const newRecord = (): Seen => ({ seqs: new Map(TOPICS.map((t) => [t, []])), reconnectMs: [], closes: [] });

/**
 * The documented tap resume: remember the first welcome's epoch and ts and the last seq seen per
 * topic; after a close, reconnect at once with them in the URL (retrying a refused upgrade every
 * 50 ms, as a script would).
 */
class ResumingTap {
  readonly seen = newRecord();
  node = '';
  resets = 0;
  /** Upgrades refused (a status instead of 101), by status. */
  readonly refused: number[] = [];
  private epoch: string | undefined;
  private sinceTs: number | undefined;
  private readonly last = new Map<string, number>();
  private closedAt = 0;
  private stopped = false;
  private ws: WebSocket | null = null;

  constructor(private readonly base: string) {
    this.open();
  }

  url(): string {
    const path = `${this.base}/ws/deploy.roll.*`;
    if (this.epoch === undefined) return path;
    const since = [...this.last].map(([topic, seq]) => `${topic}:${seq}`).join(',');
    return `${path}?epoch=${encodeURIComponent(this.epoch)}&sinceTs=${this.sinceTs}${since ? `&since=${since}` : ''}`;
  }

  private open(): void {
    const ws = new WebSocket(this.url());
    this.ws = ws;
    let welcomed = false;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as WelcomeFrame | { op: 'reset' } | { topic: string; seq: number };
      if (!welcomed) {
        if (!('op' in frame) || frame.op !== 'welcome') throw new Error(`a tap's first frame must be its welcome: ${String(data)}`);
        welcomed = true;
        this.epoch ??= frame.epoch;
        this.sinceTs ??= frame.ts;
        this.node = frame.node;
        if (this.closedAt) this.seen.reconnectMs.push(Date.now() - this.closedAt);
        this.closedAt = 0;
        return;
      }
      if ('op' in frame) {
        if (frame.op === 'reset') this.resets++;
        return;
      }
      this.seen.seqs.get(frame.topic)?.push(frame.seq);
      this.last.set(frame.topic, frame.seq);
    });
    ws.on('unexpected-response', (_req, res) => {
      this.refused.push(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      if (welcomed) this.seen.closes.push(code);
      if (this.stopped) return;
      this.closedAt ||= Date.now();
      setTimeout(() => this.open(), welcomed ? 0 : 50);
    });
  }

  close(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}

/** POSTs through the proxy round-robin over TOPICS until stopped; a failed publish is retried. */
class Publisher {
  readonly lastAcked = new Map<string, number>();
  failures = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly base: string) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const topic = TOPICS[i % TOPICS.length];
      for (;;) {
        try {
          const res = await fetch(`${this.base}/api/publish/${topic}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ i }),
            signal: AbortSignal.timeout(2000),
          });
          const body = (await res.json()) as { seq?: number };
          if (res.status === 200 && typeof body.seq === 'number') {
            this.lastAcked.set(topic, Math.max(this.lastAcked.get(topic) ?? 0, body.seq));
            break;
          }
        } catch {
          // the proxy lost the node mid-request: publish again (the seq check below tolerates a copy)
        }
        this.failures++;
        await sleep(20);
      }
      await sleep(4);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** Each node's id, asked directly (they change when a node restarts). */
async function nodeIds(c: ProxyCluster): Promise<string[]> {
  return Promise.all(
    c.nodes.map(async (n) => {
      try {
        return ((await (await fetch(`http://127.0.0.1:${n.port}/healthz`)).json()) as { node: string }).node;
      } catch {
        return '';
      }
    }),
  );
}

/** Stop node `i` (SIGTERM drains, SIGKILL kills), wait for its exit, start it again on its port. */
async function restartNode(c: ProxyCluster, i: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<number> {
  const old = c.nodes[i];
  const exited = new Promise<number | null>((resolve) => old.proc.once('exit', (code) => resolve(code)));
  old.proc.kill(signal);
  const code = await exited;
  c.nodes[i] = await spawnHub({ ...c.env, PORT: String(old.port) }, c.children);
  await until(`node ${i} to be healthy again`, async () => (await fetch(`http://127.0.0.1:${old.port}/healthz`)).status === 200, 10_000, 50);
  return code ?? -1;
}

/** How many times HAProxy's log (its stderr, run with -db) said node `i` (server hub<i+1>) went `state`. */
function haproxySaid(c: ProxyCluster, i: number, state: 'DOWN' | 'UP'): number {
  return c.proxy.output().split(`Server hubs/hub${i + 1} is ${state}`).length - 1;
}

/**
 * Restart node `i` the way docs/operations.md tells a rolling restart to: after it answers 200,
 * behind HAProxy also wait until the balancer has it back. A node its health check marked DOWN
 * (two failed checks during the drain and restart) is UP again only `rise 2` x `inter 2s` later;
 * going on sooner can leave two of three nodes out of rotation, and a reconnect refused by the last
 * one then waits out HAProxy's 1 s turn-around before its retry (a 1055 ms reconnect, measured).
 */
async function rollNode(c: ProxyCluster, i: number): Promise<number> {
  const downs = haproxySaid(c, i, 'DOWN');
  const ups = haproxySaid(c, i, 'UP');
  const code = await restartNode(c, i, 'SIGTERM');
  if (c.proxy.kind === 'haproxy') {
    await sleep(100); // a check that failed just before the node answered has logged its DOWN by now
    await until(`HAProxy to have node ${i} back in rotation`, () => haproxySaid(c, i, 'DOWN') === downs || haproxySaid(c, i, 'UP') > ups, 10_000, 50);
  }
  return code;
}

/** Every topic's seqs must be exactly 1..last, once each, in order. */
function expectEveryMessageOnce(seen: Seen, lastAcked: Map<string, number>): void {
  for (const topic of TOPICS) {
    const seqs = seen.seqs.get(topic)!;
    const last = Math.max(lastAcked.get(topic) ?? 0, seqs.at(-1) ?? 0);
    expect({ topic, seqs }).toEqual({ topic, seqs: Array.from({ length: last }, (_, k) => k + 1) });
  }
}

function describeRollingRestart(kind: ProxyKind): void {
  describe(`a rolling restart through deploy/${kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg'}`, () => {
    let c: ProxyCluster | undefined;
    beforeAll(async () => {
      c = await startCluster(kind, NODE_ENV);
    });
    afterAll(async () => {
      await stopCluster(c);
    });

    it('resuming wildcard taps and a HubClient get every message once, in order, each reconnect under 1 s', { timeout: 150_000 }, async () => {
      const cluster = c!;
      const taps = Array.from({ length: TAPS }, () => new ResumingTap(cluster.proxy.wsBase));
      const [tap] = taps; // the one whose node is killed at the end
      const app = newRecord();
      let appClosedAt = 0;
      let appNode = '';
      const client = new HubClient({
        url: `${cluster.proxy.wsBase}/ws`,
        connect: (url, protocol) => new WebSocket(url, protocol) as unknown as WebSocketLike,
        onWelcome: (w) => {
          appNode = w.node;
          if (appClosedAt) app.reconnectMs.push(Date.now() - appClosedAt);
          appClosedAt = 0;
        },
        onStatus: (s) => s === 'closed' && (appClosedAt ||= Date.now()),
      });
      client.subscribe('deploy.roll.>', (m) => app.seqs.get(m.topic)?.push(m.seq));
      await until('every client to be connected', () => taps.every((t) => t.node !== '') && appNode !== '', 10_000);
      // A first connect gets live messages only: let every subscription take effect first.
      await sleep(300);
      const publisher = new Publisher(cluster.proxy.httpBase);
      const live = (seen: Seen) => TOPICS.every((t) => seen.seqs.get(t)!.length > 0);
      await until('every client to be live', () => taps.every((t) => live(t.seen)) && live(app), 10_000);

      const exitCodes: number[] = [];
      for (let i = 0; i < cluster.nodes.length; i++) {
        exitCodes.push(await rollNode(cluster, i));
        await sleep(300); // publishing goes on between restarts
      }
      expect(exitCodes).toEqual([0, 0, 0]);
      // Every node drained some taps (least-connections spread them), so they moved with 1012.
      expect(taps.flatMap((t) => t.seen.closes).filter((code) => code === 1012).length).toBeGreaterThanOrEqual(TAPS);

      // kill -9 of the node the first tap is on now.
      await until('the tap to be connected', () => tap.node !== '', 5000);
      const victim = (await nodeIds(cluster)).indexOf(tap.node);
      expect(victim).toBeGreaterThanOrEqual(0);
      const reconnectsBefore = tap.seen.reconnectMs.length;
      await restartNode(cluster, victim, 'SIGKILL');
      await until('the tap to reconnect after kill -9', () => tap.seen.reconnectMs.length > reconnectsBefore, 5000);
      expect(tap.seen.closes.at(-1)).toBe(1006);
      await sleep(300);

      await publisher.stop();
      const caughtUp = (seen: Seen) => TOPICS.every((t) => (seen.seqs.get(t)!.at(-1) ?? 0) >= publisher.lastAcked.get(t)!);
      await until('every client to catch up', () => taps.every((t) => caughtUp(t.seen)) && caughtUp(app), 10_000);
      for (const t of taps) t.close();
      client.close();

      const published = [...publisher.lastAcked.values()].reduce((a, b) => a + b, 0);
      const tapReconnects = taps.flatMap((t) => t.seen.reconnectMs);
      const refused = taps.flatMap((t) => t.refused);
      console.log(
        `${kind}: ${published} messages, ${publisher.failures} publish retries; ${tapReconnects.length} tap reconnects, ${Math.min(...tapReconnects)}-${Math.max(...tapReconnects)} ms; ` +
          `refused upgrades ${refused.join(',') || 'none'}; app reconnects (ms) ${app.reconnectMs.join(',')}`,
      );
      for (const t of taps) {
        expect(t.resets).toBe(0);
        expectEveryMessageOnce(t.seen, publisher.lastAcked);
      }
      expectEveryMessageOnce(app, publisher.lastAcked);
      // The balancer never handed a reconnect to the draining node's 503 (it retries on another
      // node, or has taken the node out): no client has to retry its way off a draining node.
      expect(refused).toEqual([]);
      expect(app.reconnectMs.length).toBeGreaterThanOrEqual(1);
      for (const ms of [...tapReconnects, ...app.reconnectMs]) expect(ms).toBeLessThan(1000);
    });
  });
}

// The two proxies' clusters share nothing (each has its own Redis, nodes, proxy and ports), and
// the scenario is mostly waiting on drains and restarts: run them at the same time.
describe.concurrent('rolling restarts through both proxies', () => {
  describeRollingRestart('nginx');
  describeRollingRestart('haproxy');
});

/**
 * `npx tsx bench/redis.ts [--subs=1000] [--rates=100,200,400,800] [--step=3000] [--loadgens=2]`
 *
 * Scale-out figure: deliveries per second of one tickhub node (memory broker), one node on Redis,
 * and two nodes on one Redis with the subscribers split between them (publisher on node 1), all
 * on this machine, driven by the same load generator as `npm run bench` (bench/loadgen.ts).
 * A step counts as sustained when nothing is lost, nobody is disconnected and deliveries reach
 * 95% of offered (p99 latency is reported, not judged: on a 2-core machine the load generators,
 * the nodes and Redis share the cores). Prints a markdown table.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestRedis } from '../test/support/redis-server.ts';
import { spawnNode, stopChild } from './lib/child.ts';
import { Histogram } from './lib/histogram.ts';
import type { Command, DrainResult, Reply } from './lib/ipc.ts';
import { freePort, waitForPort } from './lib/ports.ts';
import { BENCH_TOPIC } from './lib/payload.ts';
import { HOST, PUBLISH_KEY, TICKHUB_ENV } from './lib/targets.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const KEY = PUBLISH_KEY;
const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const SUBS = Number(arg('subs', '1000'));
const RATES = arg('rates', '100,200,400,600,800,1000,1200,1600').split(',').map(Number);
const STEP_MS = Number(arg('step', '3000'));
const LOADGENS = Number(arg('loadgens', '2'));

class Loadgen {
  private readonly pending: ((r: Reply) => void)[] = [];
  readonly child: ChildProcess;
  constructor() {
    this.child = spawnNode({ entry: 'bench/loadgen.ts', cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (msg: Reply) => this.pending.shift()?.(msg));
  }
  call(cmd: Command): Promise<Reply> {
    return new Promise((res, rej) => {
      this.pending.push((r) => (r.type === 'error' ? rej(new Error(r.message)) : res(r)));
      this.child.send(cmd);
    });
  }
}

async function startNode(env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawnNode({
    entry: 'server/main.ts',
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...env,
      ...TICKHUB_ENV,
      PORT: String(port),
      HOST,
    },
  });
  await waitForPort(HOST, port, 30_000, () => child.exitCode === null);
  return { port, child };
}

interface StepOutcome {
  rate: number;
  deliveriesPerSec: number;
  lost: number;
  closed: number;
  p99: number;
  sustained: boolean;
}

async function runConfig(name: string, nodeEnvs: Record<string, string>[]): Promise<StepOutcome[]> {
  const nodes = await Promise.all(nodeEnvs.map((env) => startNode(env)));
  const gens = Array.from({ length: Math.max(LOADGENS, nodes.length) }, () => new Loadgen());
  const out: StepOutcome[] = [];
  try {
    // Subscribers split evenly over the nodes (a load balancer without sticky sessions); loadgen
    // i talks to node i % nodes; loadgen 0 also publishes, to node 0.
    let first = 0;
    await Promise.all(
      gens.map((g, i) => {
        const count = Math.floor(SUBS / gens.length) + (i < SUBS % gens.length ? 1 : 0);
        const port = nodes[i % nodes.length].port;
        const cmd: Command = {
          type: 'connect',
          sub: { host: HOST, port, path: `/ws/${BENCH_TOPIC}`, dialect: 'ws' },
          count,
          firstIndex: first,
          concurrency: 100,
          pub: i === 0 ? { url: `ws://${HOST}:${nodes[0].port}/ws?token=${KEY}`, protocol: 'hub.v1', format: 'hub' } : null,
        };
        first += count;
        return g.call(cmd);
      }),
    );
    for (const rate of RATES) {
      const expected = (rate * STEP_MS * SUBS) / 1000;
      const sampleEvery = Math.max(1, Math.round(expected / 20_000));
      await Promise.all(gens.map((g) => g.call({ type: 'arm', sampleEvery })));
      const pub = (await gens[0].call({ type: 'publish', rate, durationMs: STEP_MS })) as Extract<Reply, { type: 'published' }>;
      const drains = (await Promise.all(
        gens.map((g) => g.call({ type: 'drain', expected: pub.result.sent, idleMs: 2000, maxMs: STEP_MS * 2 + 5000 })),
      )) as Extract<Reply, { type: 'drained' }>[];
      const results: DrainResult[] = drains.map((d) => d.result);
      const received = results.reduce((s, d) => s + d.received, 0);
      const lost = results.reduce((s, d) => s + d.lost, 0);
      const closed = results.reduce((s, d) => s + d.closed, 0);
      const lastAt = Math.max(...results.map((d) => d.lastAt));
      const hist = new Histogram();
      for (const d of results) hist.merge(d.latency);
      const seconds = Math.max(0.001, (lastAt - pub.result.startAt) / 1000);
      const deliveriesPerSec = received / seconds;
      const p99 = hist.quantile(0.99);
      const sustained = lost === 0 && closed === 0 && deliveriesPerSec >= 0.95 * rate * SUBS;
      out.push({ rate, deliveriesPerSec, lost, closed, p99, sustained });
      process.stdout.write(`${name} ${rate} msg/s: ${(deliveriesPerSec / 1000).toFixed(1)}k deliveries/s, lost ${lost}, closed ${closed}, p99 ${p99.toFixed(1)} ms${sustained ? '' : '  (not sustained)'}\n`);
      if (!sustained || closed > 0) break;
    }
  } finally {
    await Promise.all(gens.map((g) => g.call({ type: 'disconnect' }).catch(() => undefined)));
    await Promise.all([...gens.map((g) => stopChild(g.child)), ...nodes.map((n) => stopChild(n.child))]);
  }
  return out;
}

async function main(): Promise<void> {
  const redis = await TestRedis.start();
  const rows: string[] = [];
  try {
    const configs: [string, Record<string, string>[]][] = [
      ['1 node, memory broker', [{ REDIS_URL: '' }]],
      ['1 node, Redis broker', [{ REDIS_URL: redis.url }]],
      ['2 nodes, one Redis', [{ REDIS_URL: redis.url }, { REDIS_URL: redis.url }]],
    ];
    for (const [name, envs] of configs) {
      const steps = await runConfig(name, envs);
      const best = [...steps].reverse().find((s) => s.sustained);
      const peak = steps.reduce((m, s) => Math.max(m, s.deliveriesPerSec), 0);
      rows.push(
        `| ${name} | ${best ? best.rate : '-'} | ${best ? (best.deliveriesPerSec / 1000).toFixed(0) + 'k' : '-'} | ${best ? best.p99.toFixed(1) : '-'} | ${(peak / 1000).toFixed(0)}k |`,
      );
    }
  } finally {
    await redis.stop();
  }
  process.stdout.write(
    `\n${SUBS} subscribers on topic ${BENCH_TOPIC}, ${STEP_MS / 1000} s steps, ${Math.max(LOADGENS, 2)} load-generator processes\n\n` +
      '| setup | max sustained msg/s | deliveries/s there | p99 ms there | peak deliveries/s |\n|---|---|---|---|---|\n' +
      rows.join('\n') +
      '\n',
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

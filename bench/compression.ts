/**
 * `node --import tsx bench/compression.ts [--subs=1000] [--rate=10] [--step-ms=2000] [--trials=3] [--modes=...] [--kinds=...]`
 *
 * What compression costs the server and saves on the wire, per message kind, at N subscribers:
 * - `off`: tickhub, COMPRESSION=off (the extension is declined; plain frames)
 * - `shared`: tickhub, COMPRESSION=shared (one deflate per message, shared; COMPRESSION_MIN_BYTES default)
 * - `shared-all`: tickhub, COMPRESSION=shared with COMPRESSION_MIN_BYTES=0 (ticks compressed too)
 * - `per-socket`: `ws` with its own permessage-deflate, `send()` per subscriber (peers/naive.ts with DEFLATE_THRESHOLD)
 * Every subscriber offers `permessage-deflate; client_max_window_bits` as browsers do, and counts
 * frames and bytes without inflating. Per kind, the publisher sends `rate` msg/s for `step-ms`;
 * the step ends when every subscriber has every message. Server CPU is utime+stime of all its
 * threads (zlib's thread pool included) over the step, divided by the deliveries. All servers run
 * at once and the modes take turns step by step (order rotating per trial), so a shared machine's
 * load falls on them alike; the table shows medians over the trials.
 * Prints a markdown table and writes bench/results/compression-<timestamp>.json.
 */
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { spawnNode, stopChild } from './lib/child.ts';
import { nowMs, sleep } from './lib/clock.ts';
import { Histogram } from './lib/histogram.ts';
import { BENCH_TOPIC } from './lib/payload.ts';
import { freePort, waitForPort } from './lib/ports.ts';
import { cpuSeconds, ForeignLoad, memory } from './lib/procstat.ts';
import { RawSubscriber, type Sampler } from './lib/subscriber.ts';
import { HOST, PUBLISH_KEY, TICKHUB_ENV } from './lib/targets.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

type Mode = 'off' | 'shared' | 'shared-all' | 'per-socket';
type Kind = 'tick' | 'bar' | 'book';
const MODES: readonly Mode[] = ['off', 'shared', 'shared-all', 'per-socket'];
const KINDS: readonly Kind[] = ['tick', 'bar', 'book'];
const OFFER = 'permessage-deflate; client_max_window_bits';

interface Options {
  subs: number;
  rate: number;
  stepMs: number;
  modes: Mode[];
  kinds: Kind[];
  trials: number;
}

function parseOptions(argv: readonly string[]): Options {
  const opts: Options = { subs: 1000, rate: 10, stepMs: 2000, modes: [...MODES], kinds: [...KINDS], trials: 3 };
  for (const arg of argv) {
    const [key, value = ''] = arg.replace(/^--/, '').split('=');
    const list = <T extends string>(all: readonly T[]): T[] => {
      const picked = value.split(',').filter(Boolean) as T[];
      const bad = picked.filter((p) => !all.includes(p));
      if (bad.length || !picked.length) throw new Error(`--${key}: one or more of ${all.join(',')}`);
      return picked;
    };
    const positive = (): number => {
      const n = Number(value);
      if (!(Number.isInteger(n) && n > 0)) throw new Error(`--${key}: a positive integer`);
      return n;
    };
    if (key === 'subs') opts.subs = positive();
    else if (key === 'rate') opts.rate = positive();
    else if (key === 'step-ms') opts.stepMs = positive();
    else if (key === 'modes') opts.modes = list(MODES);
    else if (key === 'kinds') opts.kinds = list(KINDS);
    else if (key === 'trials') opts.trials = positive();
    else throw new Error(`unknown option ${arg} (--subs, --rate, --step-ms, --trials, --modes, --kinds)`);
  }
  return opts;
}

/** The `data` of message `n` of each kind: realistic shapes whose numbers change from message to message. */
function dataOf(kind: Kind, n: number): string {
  const px = (base: number, i: number) => (base + ((n * 7 + i * 13) % 100) / 100).toFixed(2);
  if (kind === 'tick') {
    return `{"sym":"AAPL","px":"${px(187, 0)}","bid":"${px(187, 1)}","ask":"${px(187, 2)}","qty":${100 + (n % 9) * 100},"side":"${n % 2 ? 'buy' : 'sell'}","n":${n}}`;
  }
  if (kind === 'bar') {
    return `{"sym":"AAPL","tf":"1m","time":${1764100000 + n * 60},"open":"${px(187, 1)}","high":"${px(188, 2)}","low":"${px(186, 3)}","close":"${px(187, 4)}","volume":${123400 + n * 17},"trades":${400 + (n % 50)},"final":false,"n":${n}}`;
  }
  const side = (base: number, dir: number) =>
    Array.from({ length: 100 }, (_, i) => `["${(base + dir * i * 0.01 + ((n + i) % 3) * 0.001).toFixed(3)}",${100 * (((n + i) * 7) % 13 + 1)}]`).join(',');
  return `{"sym":"AAPL","n":${n},"bids":[${side(187.41, -1)}],"asks":[${side(187.43, 1)}]}`;
}

interface Server {
  child: ChildProcess;
  port: number;
  sub: { path: string };
  /** The text the publisher sends for message `n` with `data`. */
  publishText(n: number, data: string): string;
  pubUrl: string;
  pubProtocol?: string;
}

/** The servers under test, killed with the runner if it is interrupted. */
const running = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    process.exit(130);
  });
}

async function startServer(mode: Mode): Promise<Server> {
  const port = await freePort();
  const tickhub = mode !== 'per-socket';
  const env: Record<string, string> = tickhub
    ? { ...TICKHUB_ENV, PORT: String(port), HOST, COMPRESSION: mode === 'off' ? 'off' : 'shared', ...(mode === 'shared-all' && { COMPRESSION_MIN_BYTES: '0' }) }
    : { PORT: String(port), HOST, DEFLATE_THRESHOLD: '256' }; // tickhub's COMPRESSION_MIN_BYTES default
  mkdirSync(`${root}/bench/results/logs`, { recursive: true });
  const fd = openSync(`${root}/bench/results/logs/compression-${mode}.log`, 'a');
  const child = spawnNode({ entry: tickhub ? 'server/main.ts' : 'bench/peers/naive.ts', env, cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.add(child);
  await waitForPort(HOST, port, 30_000, () => child.exitCode === null);
  return tickhub
    ? {
        child,
        port,
        sub: { path: `/ws/${BENCH_TOPIC}` },
        pubUrl: `ws://${HOST}:${port}/ws?token=${PUBLISH_KEY}`,
        pubProtocol: 'hub.v1',
        publishText: (n, data) => `{"op":"pub","id":${n},"topic":"${BENCH_TOPIC}","data":${data}}`,
      }
    : {
        child,
        port,
        sub: { path: '/sub' },
        pubUrl: `ws://${HOST}:${port}/pub`,
        publishText: (n, data) => `{"topic":"${BENCH_TOPIC}","seq":${n},"ts":${Date.now()},"data":${data}}`,
      };
}

function openPublisher(server: Server): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.pubUrl, server.pubProtocol ? [server.pubProtocol] : [], { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

interface Row {
  kind: Kind;
  mode: Mode;
  /** Bytes of one delivered message's JSON (tickhub's envelope). */
  jsonBytes: number;
  sent: number;
  deliveries: number;
  bytesPerDelivery: number;
  cpuMicrosPerDelivery: number;
  /** Cores used by other programs during the step: above ~0.25 the numbers are noisy. */
  otherCores: number;
  complete: boolean;
}

/** One server under test with its subscribers and publisher, kept up for the whole run. */
interface Target {
  mode: Mode;
  server: Server;
  subs: RawSubscriber[];
  pub: WebSocket;
  /** Messages published so far (the next `n`). */
  n: number;
}

async function openTarget(mode: Mode, opts: Options): Promise<Target> {
  const server = await startServer(mode);
  const sampler: Sampler = { every: 1_000_000_000, hist: new Histogram(), unparsable: 0 };
  const subs: RawSubscriber[] = [];
  for (let i = 0; i < opts.subs; i += 100) {
    const wave: Promise<void>[] = [];
    for (let j = i; j < Math.min(opts.subs, i + 100); j++) {
      const s = new RawSubscriber({ host: HOST, port: server.port, path: server.sub.path, dialect: 'ws', extensions: OFFER }, sampler, j);
      subs.push(s);
      wave.push(s.open());
    }
    await Promise.all(wave);
  }
  const target: Target = { mode, server, subs, pub: await openPublisher(server), n: 0 };
  // Warm-up, not measured: JIT, zlib and socket buffers reach their steady state.
  for (const kind of opts.kinds) for (let i = 0; i < 5; i++) publish(target, kind);
  await delivered(target, 5 * opts.kinds.length, 10_000);
  return target;
}

function publish(t: Target, kind: Kind): void {
  t.n++;
  t.pub.send(t.server.publishText(t.n, dataOf(kind, t.n)));
}

/** Waits until every subscriber has `count` messages since its last reset (or `maxMs` passed). */
async function delivered(t: Target, count: number, maxMs: number): Promise<void> {
  const deadline = nowMs() + maxMs;
  while (nowMs() < deadline && t.subs.some((s) => s.count < count && !s.closed)) await sleep(20);
}

/** One measured step: `rate` msg/s of `kind` for `stepMs`, until every subscriber has them all. */
async function step(t: Target, kind: Kind, opts: Options): Promise<Row> {
  const pid = t.server.child.pid!;
  for (const s of t.subs) s.resetCount();
  const foreign = new ForeignLoad(() => [pid, process.pid]);
  foreign.start();
  const cpu0 = cpuSeconds(pid);
  const count = Math.max(1, Math.round((opts.rate * opts.stepMs) / 1000));
  const t0 = nowMs();
  for (let i = 0; i < count; i++) {
    const wait = t0 + (i * 1000) / opts.rate - nowMs();
    if (wait > 0) await sleep(wait);
    publish(t, kind);
  }
  await delivered(t, count, 30_000);
  await sleep(50); // the server's last writes are in its CPU time
  const cpu = cpuSeconds(pid) - cpu0;
  const deliveries = t.subs.reduce((a, s) => a + s.count, 0);
  const bytes = t.subs.reduce((a, s) => a + s.bytes, 0);
  return {
    kind,
    mode: t.mode,
    jsonBytes: `{"topic":"${BENCH_TOPIC}","seq":${t.n},"ts":${Date.now()},"data":${dataOf(kind, t.n)}}`.length,
    sent: count,
    deliveries,
    bytesPerDelivery: bytes / Math.max(1, deliveries),
    cpuMicrosPerDelivery: (cpu * 1e6) / Math.max(1, deliveries),
    otherCores: foreign.cores(),
    complete: deliveries === count * t.subs.length,
  };
}

async function closeTarget(t: Target): Promise<void> {
  t.pub.close();
  for (const s of t.subs) s.destroy();
  await stopChild(t.server.child);
  running.delete(t.server.child);
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Per kind and mode, the median over trials of each number. */
function medians(samples: Row[]): Row[] {
  const out: Row[] = [];
  for (const kind of KINDS) {
    for (const mode of MODES) {
      const rows = samples.filter((r) => r.kind === kind && r.mode === mode);
      if (!rows.length) continue;
      out.push({
        ...rows[0],
        deliveries: median(rows.map((r) => r.deliveries)),
        bytesPerDelivery: median(rows.map((r) => r.bytesPerDelivery)),
        cpuMicrosPerDelivery: median(rows.map((r) => r.cpuMicrosPerDelivery)),
        otherCores: median(rows.map((r) => r.otherCores)),
        complete: rows.every((r) => r.complete),
      });
    }
  }
  return out;
}

function table(rows: Row[], rss: Record<string, number>, opts: Options): string {
  const lines = [
    `Compression at ${opts.subs} subscribers, ${opts.rate} msg/s for ${opts.stepMs} ms per kind, medians of ${opts.trials} paired trials (server RSS after the run: ${Object.entries(rss)
      .map(([m, mb]) => `${m} ${mb.toFixed(0)} MB`)
      .join(', ')})`,
    '',
    '| kind | JSON B | mode | wire B/delivery | saved vs off | server µs CPU/delivery | CPU vs off | other programs (cores) |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const kind of opts.kinds) {
    const off = rows.find((r) => r.kind === kind && r.mode === 'off');
    for (const r of rows.filter((x) => x.kind === kind)) {
      const saved = off ? `${(100 * (1 - r.bytesPerDelivery / off.bytesPerDelivery)).toFixed(0)}%` : '-';
      const ratio = off ? `${(r.cpuMicrosPerDelivery / off.cpuMicrosPerDelivery).toFixed(2)}x` : '-';
      lines.push(
        `| ${kind} | ${r.jsonBytes} | ${r.mode}${r.complete ? '' : ' (incomplete)'} | ${r.bytesPerDelivery.toFixed(1)} | ${saved} | ${r.cpuMicrosPerDelivery.toFixed(2)} | ${ratio} | ${r.otherCores.toFixed(2)} |`,
      );
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const targets: Target[] = [];
  const samples: Row[] = [];
  const rss: Record<string, number> = {};
  try {
    for (const mode of opts.modes) {
      targets.push(await openTarget(mode, opts));
      log(`${mode}: ${opts.subs} subscribers connected`);
    }
    // Paired trials: every mode measured in turn (the order rotating), so they share the machine's load.
    for (let trial = 0; trial < opts.trials; trial++) {
      for (const kind of opts.kinds) {
        for (let k = 0; k < targets.length; k++) {
          const row = await step(targets[(k + trial) % targets.length], kind, opts);
          samples.push(row);
          log(
            `  trial ${trial + 1} ${row.mode} ${kind}: ${row.deliveries} deliveries, ${row.bytesPerDelivery.toFixed(1)} B and ${row.cpuMicrosPerDelivery.toFixed(2)} µs CPU each, other programs ${row.otherCores.toFixed(2)} cores${row.complete ? '' : ' INCOMPLETE'}`,
          );
        }
      }
    }
    for (const t of targets) rss[t.mode] = memory(t.server.child.pid!).rss / 2 ** 20;
  } finally {
    await Promise.all(targets.map(closeTarget));
    for (const child of running) await stopChild(child); // a server whose subscribers never connected
  }
  const report = table(medians(samples), rss, opts);
  log(`\n${report}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(`${root}/bench/results/compression-${stamp}.json`, JSON.stringify({ started: stamp, opts, samples, rssMb: rss }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

/**
 * `node --import tsx bench/compression.ts [--subs=1000] [--rate=25] [--step-ms=2000] [--modes=...] [--kinds=...]`
 *
 * What compression costs the server and saves on the wire, per message kind, at N subscribers:
 * - `off`: tickhub, COMPRESSION=off (the extension is declined; plain frames)
 * - `shared`: tickhub, COMPRESSION=shared (one deflate per message, shared; COMPRESSION_MIN_BYTES default)
 * - `shared-all`: tickhub, COMPRESSION=shared with COMPRESSION_MIN_BYTES=0 (ticks compressed too)
 * - `per-socket`: `ws` with its own permessage-deflate, `send()` per subscriber (peers/deflate.ts)
 * Every subscriber offers `permessage-deflate; client_max_window_bits` as browsers do, and counts
 * frames and bytes without inflating. Per kind, the publisher sends `rate` msg/s for `step-ms`;
 * the step ends when every subscriber has every message. Server CPU is utime+stime of all its
 * threads (zlib's thread pool included) over the step, divided by the deliveries.
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
}

function parseOptions(argv: readonly string[]): Options {
  const opts: Options = { subs: 1000, rate: 25, stepMs: 2000, modes: [...MODES], kinds: [...KINDS] };
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
    else throw new Error(`unknown option ${arg} (--subs, --rate, --step-ms, --modes, --kinds)`);
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

/** The server under test, killed with the runner if it is interrupted. */
let running: ChildProcess | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    running?.kill('SIGKILL');
    process.exit(130);
  });
}

async function startServer(mode: Mode): Promise<Server> {
  const port = await freePort();
  const tickhub = mode !== 'per-socket';
  const env: Record<string, string> = tickhub
    ? { ...TICKHUB_ENV, PORT: String(port), HOST, COMPRESSION: mode === 'off' ? 'off' : 'shared', ...(mode === 'shared-all' && { COMPRESSION_MIN_BYTES: '0' }) }
    : { PORT: String(port), HOST };
  mkdirSync(`${root}/bench/results/logs`, { recursive: true });
  const fd = openSync(`${root}/bench/results/logs/compression-${mode}.log`, 'a');
  const child = spawnNode({ entry: tickhub ? 'server/main.ts' : 'bench/peers/deflate.ts', env, cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running = child;
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

async function runMode(mode: Mode, opts: Options, log: (line: string) => void): Promise<{ rows: Row[]; rssMb: number }> {
  const server = await startServer(mode);
  const rows: Row[] = [];
  const sampler: Sampler = { every: 1_000_000_000, hist: new Histogram(), unparsable: 0 };
  const subs: RawSubscriber[] = [];
  try {
    for (let i = 0; i < opts.subs; i += 100) {
      const wave: Promise<void>[] = [];
      for (let j = i; j < Math.min(opts.subs, i + 100); j++) {
        const s = new RawSubscriber({ host: HOST, port: server.port, path: server.sub.path, dialect: 'ws', extensions: OFFER }, sampler, j);
        subs.push(s);
        wave.push(s.open());
      }
      await Promise.all(wave);
    }
    const pub = await openPublisher(server);
    await sleep(300); // taps' welcomes are out
    const pid = server.child.pid!;
    const foreign = new ForeignLoad(() => [pid, process.pid]);
    let n = 0;
    // Warm-up, not measured: JIT, zlib and socket buffers reach their steady state.
    for (const kind of opts.kinds) for (let i = 0; i < 5; i++) pub.send(server.publishText(++n, dataOf(kind, n)));
    const warm = 5 * opts.kinds.length;
    const deadlineWarm = nowMs() + 10_000;
    while (nowMs() < deadlineWarm && subs.some((s) => s.count < warm && !s.closed)) await sleep(20);
    for (const kind of opts.kinds) {
      for (const s of subs) s.resetCount();
      foreign.start();
      const cpu0 = cpuSeconds(pid);
      const count = Math.max(1, Math.round((opts.rate * opts.stepMs) / 1000));
      const interval = 1000 / opts.rate;
      const t0 = nowMs();
      for (let i = 0; i < count; i++) {
        const wait = t0 + i * interval - nowMs();
        if (wait > 0) await sleep(wait);
        pub.send(server.publishText(++n, dataOf(kind, n)));
      }
      const deadline = nowMs() + 30_000;
      while (nowMs() < deadline && subs.some((s) => s.count < count && !s.closed)) await sleep(20);
      await sleep(50); // the server's last writes are in its CPU time
      const cpu = cpuSeconds(pid) - cpu0;
      const deliveries = subs.reduce((a, s) => a + s.count, 0);
      const bytes = subs.reduce((a, s) => a + s.bytes, 0);
      const row: Row = {
        kind,
        mode,
        jsonBytes: `{"topic":"${BENCH_TOPIC}","seq":${n},"ts":${Date.now()},"data":${dataOf(kind, n)}}`.length,
        sent: count,
        deliveries,
        bytesPerDelivery: bytes / Math.max(1, deliveries),
        cpuMicrosPerDelivery: (cpu * 1e6) / Math.max(1, deliveries),
        otherCores: foreign.cores(),
        complete: deliveries === count * subs.length,
      };
      rows.push(row);
      log(`  ${mode} ${kind}: ${row.deliveries} deliveries, ${row.bytesPerDelivery.toFixed(1)} B each, ${row.cpuMicrosPerDelivery.toFixed(2)} µs CPU each, other programs ${row.otherCores.toFixed(2)} cores${row.complete ? '' : ' INCOMPLETE'}`);
    }
    const rssMb = memory(pid).rss / 2 ** 20;
    pub.close();
    return { rows, rssMb };
  } finally {
    for (const s of subs) s.destroy();
    await stopChild(server.child);
    running = null;
  }
}

function table(rows: Row[], rss: Record<string, number>, opts: Options): string {
  const lines = [
    `Compression at ${opts.subs} subscribers, ${opts.rate} msg/s for ${opts.stepMs} ms per kind (server RSS after the run: ${Object.entries(rss)
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
  const rows: Row[] = [];
  const rss: Record<string, number> = {};
  for (const mode of opts.modes) {
    log(`## ${mode}`);
    const result = await runMode(mode, opts, log);
    rows.push(...result.rows);
    rss[mode] = result.rssMb;
  }
  const report = table(rows, rss, opts);
  log(`\n${report}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(`${root}/bench/results/compression-${stamp}.json`, JSON.stringify({ started: stamp, opts, rows, rssMb: rss }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});

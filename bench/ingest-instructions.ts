/**
 * `npx tsx bench/ingest-instructions.ts [--servers=json,tickhub] [--messages=2000] [--rate=200] [--form=single|batch|http|http-batch] [--batch=100] [--warmup=20000] [--warmup-rate=1000]`
 *
 * Instructions per ingested message, counted by valgrind's callgrind in the server process: a
 * number a busy machine cannot distort (wall-clock and CPU-time ratios can be). Each server runs
 * under `valgrind --tool=callgrind` with one subscriber and one publisher (the load generator,
 * not instrumented); after a warm-up (`warmup` messages at `warmup-rate`, every one answered: V8
 * tiers code up by the work done, and after a short one the window counted mostly the interpreter
 * and TurboFan compiling) the counters are zeroed (`callgrind_control -z`), `messages` are
 * published at `rate`, delivered and acknowledged, and the counters dumped; the
 * instructions of an idle window of the same length (the hub's timers) are subtracted. Prints
 * instructions per message (user space only: the kernel's socket work is not counted) and the
 * ratio to the first server. The batch forms send whole batches of `batch` messages, as a fast
 * producer does (at this rate a 1 ms tick would hold one message). Slow: node starts in about a
 * minute under valgrind on 2 cores, and runs ~50x slower, so keep the rates low. The dumps stay
 * in bench/results/callgrind/ for `callgrind_annotate`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './lib/clock.ts';
import { LoadgenPool } from './lib/loadgen-pool.ts';
import { measureStep } from './lib/measure.ts';
import { ServerProcess } from './lib/server-proc.ts';
import { serverDef, type IngestForm, type ServerName } from './lib/targets.ts';
import { dumpedInstructions, type Counted } from './lib/callgrind.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const servers = arg('servers', 'json,tickhub').split(',') as ServerName[];
const messages = Number(arg('messages', '2000'));
const rate = Number(arg('rate', '200'));
const form = arg('form', 'single') as IngestForm;
const batch = Number(arg('batch', '100'));
const warmup = Number(arg('warmup', '20000'));
const warmupRate = Number(arg('warmup-rate', '1000'));
const outDir = `${root}/bench/results/callgrind`;

async function measure(name: ServerName): Promise<number> {
  const def = serverDef(name);
  const stamp = `${name}-${form}-${Date.now()}`;
  // An explicit vgdb prefix: the default one names the user, which a container may not have.
  const vgdb = `--vgdb-prefix=/tmp/vgdb-${process.pid}`; // short: the FIFO names are built on it
  const wrapper = ['valgrind', '--tool=callgrind', '--smc-check=all', '--vgdb=yes', vgdb, `--callgrind-out-file=${outDir}/${stamp}`, '--dump-instr=no'];
  // vgdb names its FIFOs after $HOST, which the servers get set (their listen address).
  const vgdbEnv = { ...process.env, HOST: def.env(0).HOST ?? '' };
  const server = await ServerProcess.start(def, root, `${outDir}/${stamp}.log`, { wrapper, startTimeoutMs: 900_000 });
  const pool = LoadgenPool.start(1, root);
  try {
    const c = await pool.connect(def.sub(server.port), def.pub(server.port, { form, batch, fullBatches: true }), 1, 1);
    if (c.failed) throw new Error(`${name}: ${c.firstError}`);
    const spec = (r: number, ms: number) => ({ rate: r, durationMs: ms, sampleTarget: 1e6, p99LimitMs: 1e9, keepUpRatio: 0, acked: def.acked });
    // Under valgrind the server may lag far behind: wait until every message sent is answered.
    const settled = async () => ((await pool.replies())?.acks ?? 0) + ((await pool.replies())?.errors ?? 0);
    const settle = async (sent: number) => {
      for (let waited = 0; def.acked && (await settled()) < sent && waited < 600_000; waited += 500) await sleep(500);
    };
    await settle((await measureStep(server, pool, 1, spec(warmupRate, (warmup / warmupRate) * 1000))).sent);
    const control = (cmd: '-z' | '-d') => execFileSync('callgrind_control', [vgdb, cmd, String(server.pid)], { env: vgdbEnv });
    // Idle baseline: what the hub's own timers ($sys.stats, sweeps, heartbeat) cost per second,
    // subtracted from the measured window so only the messages' work remains.
    control('-z');
    const idleStart = performance.now();
    await sleep(10_000);
    control('-d');
    await sleep(500);
    const idle = dumpedInstructions(outDir, stamp);
    const idleMs = performance.now() - idleStart - 500;
    control('-z');
    const windowStart = performance.now();
    const step = await measureStep(server, pool, 1, spec(rate, (messages / rate) * 1000));
    await settle(step.sent); // count only once every message is acked
    const processed = def.acked ? (await pool.replies())?.acks ?? 0 : step.received;
    const windowMs = performance.now() - windowStart;
    control('-d');
    await sleep(500);
    const counted = dumpedInstructions(outDir, stamp);
    const perMessage = (k: keyof Counted) => (counted[k] - (idle[k] / idleMs) * windowMs) / processed;
    process.stdout.write(
      `${name} ${form}: ${step.sent} sent, ${processed} processed (acked, or received when not acked); ${perMessage('total').toFixed(0)} instructions per message ` +
        `(main thread ${perMessage('main').toFixed(0)}, V8 workers ${perMessage('workers').toFixed(0)}: a compile or a major GC in the window shows there)\n`,
    );
    return perMessage('total');
  } finally {
    await pool.disconnect().catch(() => undefined);
    await server.stop();
    await pool.stop();
  }
}

mkdirSync(outDir, { recursive: true });
const results: Array<[ServerName, number]> = [];
for (const name of servers) results.push([name, await measure(name)]);
process.stdout.write(`\n| server | form | instructions / message | vs ${results[0][0]} |\n|---|---|---|---|\n`);
for (const [name, ir] of results) process.stdout.write(`| ${name} | ${form} | ${ir.toFixed(0)} | ${(ir / results[0][1]).toFixed(2)}× |\n`);

/**
 * `npx tsx bench/upgrade-instructions.ts [--connections=1000] [--warmup=1000] [--parallel=50] [--path=/ws/t] [--protocol=] [--settle=15000] [--entry=<hub bundle>]`
 *
 * Instructions per accepted WebSocket handshake, counted by valgrind's callgrind in the hub
 * process (the bundle, dist/hub/main.mjs, built first; or `entry`, another build to compare
 * with, as is): what a reconnect storm costs the hub per client, in
 * a number a busy machine cannot distort. After a warm-up (`warmup` handshakes, closed again:
 * V8 tiers code up by the work done) and an idle window that measures the hub's own timers, the
 * counters are zeroed (`callgrind_control -z`), `connections` clients open (`parallel` at a time)
 * and each waits for its first frame (a tap's welcome; an app-mode client's `welcome` op), then
 * the counters are dumped. Reported per handshake: the main thread's instructions (steady; V8's
 * worker threads compile and mark in bursts that a window may or may not catch) and all. User space only: the kernel's TCP work is not counted. The dumps stay
 * in bench/results/callgrind/ for `callgrind_annotate`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { sleep } from './lib/clock.ts';
import { ServerProcess } from './lib/server-proc.ts';
import { serverDef } from './lib/targets.ts';
import { dumpedInstructions, type Counted } from './lib/callgrind.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const connections = Number(arg('connections', '1000'));
const warmup = Number(arg('warmup', '1000'));
const parallel = Number(arg('parallel', '50'));
const path = arg('path', '/ws/t');
const protocol = arg('protocol', '');
/** Milliseconds between the warm-up's closes and the idle window, for the GC and compiler threads to settle. */
const settleMs = Number(arg('settle', '15000'));
const outDir = `${root}/bench/results/callgrind`;

/** Open one client and resolve once its first frame arrives. */
function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

/** `count` clients, `parallel` handshakes in flight at a time. */
async function storm(url: string, count: number): Promise<WebSocket[]> {
  const opened: WebSocket[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      opened.push(await open(url));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return opened;
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) => new Promise<void>((done) => (ws.once('close', () => done()), ws.close()))));
}

mkdirSync(outDir, { recursive: true });
const entry = arg('entry', '');
const def = entry ? { ...serverDef('tickhub'), entry, build: undefined } : serverDef('tickhub');
const stamp = `upgrade-${Date.now()}`;
const vgdb = `--vgdb-prefix=/tmp/vgdb-${process.pid}`;
const wrapper = ['valgrind', '--tool=callgrind', '--smc-check=all', '--vgdb=yes', vgdb, `--callgrind-out-file=${outDir}/${stamp}`, '--dump-instr=no'];
const vgdbEnv = { ...process.env, HOST: def.env(0).HOST ?? '' };
const server = await ServerProcess.start(def, root, `${outDir}/${stamp}.log`, { wrapper, startTimeoutMs: 900_000 });
const control = (cmd: '-z' | '-d') => execFileSync('callgrind_control', [vgdb, cmd, String(server.pid)], { env: vgdbEnv });
try {
  const url = `ws://127.0.0.1:${server.port}${path}`;
  await closeAll(await storm(url, warmup));
  await sleep(settleMs);
  control('-z');
  const idleStart = performance.now();
  await sleep(10_000);
  control('-d');
  const idleMs = performance.now() - idleStart;
  await sleep(500);
  const idle = dumpedInstructions(outDir, stamp);
  control('-z');
  const windowStart = performance.now();
  const opened = await storm(url, connections);
  control('-d');
  const windowMs = performance.now() - windowStart;
  await sleep(500);
  const counted = dumpedInstructions(outDir, stamp);
  const per = (k: keyof Counted) => ((counted[k] - (idle[k] / idleMs) * windowMs) / connections).toFixed(0);
  process.stdout.write(
    `${connections} handshakes to ${path}${protocol ? ` (${protocol})` : ''} in ${(windowMs / 1000).toFixed(1)} s: ${per('main')} instructions per handshake on the main thread, ` +
      `${per('total')} in all (V8 workers: compiling, concurrent GC; idle windows subtracted: ${((idle.main / idleMs) * 1000).toFixed(0)}/s main, ${((idle.total / idleMs) * 1000).toFixed(0)}/s in all)\n`,
  );
  await closeAll(opened);
} finally {
  await server.stop();
}

/**
 * Memory per idle connection, measured so that other programs cannot distort it: a fresh server
 * in its own process (`--expose-gc`, with bench/lib/heap-probe.ts preloaded), N idle raw-socket
 * subscribers (`/ws/bench.topic` taps on tickhub), then the server's JS heap after a full GC and
 * its RSS, both as growth per connection. With `--snapshot=<dir>` it also writes heap snapshots
 * before and after and prints what grew per connection, by constructor.
 *
 *   npx tsx bench/idle-heap.ts [--servers=tickhub,ceiling] [--n=3000] [--snapshot=/tmp/idle] [--top=30]
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spawnNode, stopChild } from './lib/child.ts';
import { sleep } from './lib/clock.ts';
import { freePort, waitForPort } from './lib/ports.ts';
import { Histogram } from './lib/histogram.ts';
import { RawSubscriber } from './lib/subscriber.ts';
import { HOST, serverDef, type ServerName } from './lib/targets.ts';
import { diffSummaries, summarizeSnapshot } from './lib/heap-summary.ts';
import type { ProbeReply, ProbeRequest } from './lib/heap-probe.ts';

const ROOT = resolve(import.meta.dirname, '..');

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

const servers = option('servers', 'tickhub').split(',') as ServerName[];
const n = Number(option('n', '3000'));
const snapshotDir = option('snapshot', '');
const top = Number(option('top', '30'));
/** Connects in flight at once. */
const PARALLEL = 50;

/** One request to the probe, answered in order. */
function ask<T extends ProbeReply['type']>(child: ChildProcess, req: ProbeRequest & { type: T }): Promise<Extract<ProbeReply, { type: T }>> {
  return new Promise((done, fail) => {
    const onExit = () => fail(new Error('server exited'));
    child.once('exit', onExit);
    child.once('message', (reply: ProbeReply) => {
      child.off('exit', onExit);
      done(reply as Extract<ProbeReply, { type: T }>);
    });
    child.send(req);
  });
}

async function measure(name: ServerName): Promise<void> {
  const def = serverDef(name);
  const port = await freePort();
  const child = spawnNode({
    entry: def.entry,
    env: def.env(port),
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    nodeArgs: ['--expose-gc', '--import', 'tsx', '--import', './bench/lib/heap-probe.ts'],
  });
  const subs: RawSubscriber[] = [];
  try {
    await waitForPort(HOST, port, 60_000, () => child.exitCode === null);
    await sleep(1000);
    const before = await ask(child, { type: 'memory' });
    const snapBefore = snapshotDir && (await ask(child, { type: 'snapshot', file: join(snapshotDir, `${name}-before.heapsnapshot`) })).file;
    const sampler = { every: 1_000_000, hist: new Histogram(), unparsable: 0 };
    const target = def.sub(port);
    for (let i = 0; i < n; i += PARALLEL) {
      const batch = Array.from({ length: Math.min(PARALLEL, n - i) }, (_, k) => new RawSubscriber(target, sampler, i + k));
      await Promise.all(batch.map((s) => s.open()));
      subs.push(...batch);
    }
    await sleep(2000); // welcomes written, subscriptions in place
    const after = await ask(child, { type: 'memory' });
    const open = subs.filter((s) => !s.closed).length;
    const per = (a: number, b: number) => ((a - b) / open / 1024).toFixed(2);
    console.log(
      `${name}: ${open}/${n} idle connections open; per connection after a full GC: heap ${per(after.heapUsed, before.heapUsed)} KB, ` +
        `external ${per(after.external, before.external)} KB (array buffers ${per(after.arrayBuffers, before.arrayBuffers)}), RSS ${per(after.rss, before.rss)} KB`,
    );
    if (snapshotDir) {
      const snapAfter = (await ask(child, { type: 'snapshot', file: join(snapshotDir, `${name}-after.heapsnapshot`) })).file;
      const rows = diffSummaries(summarizeSnapshot(snapBefore as string), summarizeSnapshot(snapAfter), open);
      const total = rows.reduce((s, r) => s + r.bytes, 0);
      console.log(`  heap snapshot growth per connection: ${total.toFixed(0)} B; top ${top} groups (count, bytes):`);
      for (const r of rows.slice(0, top)) console.log(`  ${r.count.toFixed(2).padStart(8)} ${r.bytes.toFixed(0).padStart(6)}  ${r.key}`);
    }
  } finally {
    for (const s of subs) s.destroy();
    await stopChild(child);
  }
}

if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
for (const name of servers) await measure(name);

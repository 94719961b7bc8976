/**
 * Idle memory at scale: N idle subscribers (100,000 by default) opened from several loopback
 * source addresses (127.0.0.2, 127.0.0.3, ...: each address has its own ~28,000 ephemeral ports)
 * by several load-generator processes (each holds N / loadgens sockets), against tickhub, the
 * ceiling and uWS in turn. Reports the server's RSS growth per connection, and checks that every
 * connection is alive by publishing one message to all of them.
 *
 * Needs `ulimit -Hn` of at least N + IDLE_SCALE_FD_HEADROOM for the server (the runner opens
 * fewer when it is lower, see idleScaleSize), and loopback addresses beyond 127.0.0.1 (Linux
 * routes all of 127/8 to lo).
 */
import { sleep } from './clock.ts';
import type { BenchOptions } from './cli.ts';
import { LoadgenPool } from './loadgen-pool.ts';
import { measureStep } from './measure.ts';
import { averageRss } from './phases.ts';
import { memory } from './procstat.ts';
import { ServerProcess } from './server-proc.ts';
import { sourceAddresses } from './source-addresses.ts';
import type { ServerDef, ServerName } from './targets.ts';

export interface IdleScaleRun {
  server: ServerName;
  /** Where its connections came from (a fresh set for each server). */
  sourceAddresses: string[];
  opened: number;
  failed: number;
  firstError: string | null;
  connectMs: number;
  rssBefore: number;
  rssAfter: number;
  peakRss: number;
  bytesPerConnection: number;
  aliveReceived: number;
  error?: string;
}

export interface IdleScaleResult {
  connections: number;
  /** `--idle-scale` when the open-files limit held the run below it, and why; absent when it ran in full. */
  scaledDown?: { requested: number; reason: string };
  loadgens: number;
  runs: IdleScaleRun[];
}

/**
 * Open files the server needs beyond the N idle sockets: tickhub keeps up to 1024 descriptors in
 * reserve and drops sockets past the rest (MAX_SOCKETS, server/fd-limit.ts), plus the publisher,
 * the listener and the process's own files.
 */
export const IDLE_SCALE_FD_HEADROOM = 1200;

/** The fewest connections worth measuring when the open-files limit forces a smaller run. */
export const IDLE_SCALE_MIN = 1000;

/** How many connections a run opens, and why fewer than asked, if so. */
export type IdleScaleSize = Pick<IdleScaleResult, 'connections' | 'scaledDown'>;

/**
 * How many idle connections the phase opens under open-files hard limit `hardLimit`: all
 * `requested`, else as many as fit (with the reason, for the report), else null (not even
 * IDLE_SCALE_MIN fit: the phase is skipped).
 */
export function idleScaleSize(requested: number, hardLimit: number): IdleScaleSize | null {
  if (requested + IDLE_SCALE_FD_HEADROOM <= hardLimit) return { connections: requested };
  const fits = hardLimit - IDLE_SCALE_FD_HEADROOM;
  if (fits < IDLE_SCALE_MIN) return null;
  const reason = `open-files hard limit ${hardLimit} < ${requested + IDLE_SCALE_FD_HEADROOM} needed; raise it (ulimit -Hn) to run all ${requested}`;
  return { connections: fits, scaledDown: { requested, reason } };
}

export async function runIdleScale(
  defs: readonly ServerDef[],
  size: IdleScaleSize,
  opts: BenchOptions,
  root: string,
  logFile: (n: ServerName) => string,
  log: (line: string) => void,
): Promise<IdleScaleResult> {
  const n = size.connections;
  // ~28k ephemeral ports per source address (the default 32768-60999 range), with room to spare.
  const perRun = Math.max(1, Math.ceil(n / 20_000));
  const runs: IdleScaleRun[] = [];
  for (const [k, def] of defs.entries()) {
    // Fresh addresses for each server: the last run's closed sockets keep their ports in
    // TIME_WAIT for 60 s, and a connect bound to a source address cannot reuse them.
    const addresses = sourceAddresses(perRun, k * perRun);
    const pool = LoadgenPool.start(opts.idleScaleLoadgens, root);
    let server: ServerProcess | null = null;
    try {
      server = await ServerProcess.start(def, root, logFile(def.name));
      await sleep(1500);
      const rssBefore = await averageRss(server.pid, 5, 100);
      const c = await pool.connect({ ...def.sub(server.port), localAddresses: addresses }, def.pub(server.port), n, 500);
      log(`  ${def.name}: ${c.opened} of ${n} connections opened in ${c.ms.toFixed(0)} ms${c.failed ? `, ${c.failed} failed: ${c.firstError}` : ''}`);
      await sleep(opts.quick ? 2000 : 4000);
      const rssAfter = await averageRss(server.pid, 5, 100);
      // A failed alive check (say, the publisher could not connect) keeps the memory figures.
      const alive = await measureStep(server, pool, n, { rate: 1, durationMs: 1, sampleTarget: 1000, p99LimitMs: 1e9, keepUpRatio: 0, acked: def.acked }).catch((err: Error) => {
        log(`    alive check failed: ${err.message.split('\n')[0]}`);
        return { received: 0 };
      });
      const run: IdleScaleRun = {
        server: def.name,
        sourceAddresses: addresses,
        opened: c.opened,
        failed: c.failed,
        firstError: c.firstError,
        connectMs: c.ms,
        rssBefore,
        rssAfter,
        peakRss: memory(server.pid).hwm,
        bytesPerConnection: (rssAfter - rssBefore) / Math.max(1, c.opened),
        aliveReceived: alive.received,
      };
      runs.push(run);
      log(`    RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MB: ${(run.bytesPerConnection / 1024).toFixed(2)} KB/connection; alive ${alive.received}/${c.opened}`);
    } catch (err) {
      runs.push({ server: def.name, sourceAddresses: addresses, opened: 0, failed: n, firstError: null, connectMs: 0, rssBefore: 0, rssAfter: 0, peakRss: 0, bytesPerConnection: NaN, aliveReceived: 0, error: (err as Error).message });
      log(`    ERROR ${(err as Error).message}`);
    } finally {
      await pool.disconnect().catch(() => undefined);
      await server?.stop();
      await pool.stop();
    }
  }
  return { connections: n, ...(size.scaledDown && { scaledDown: size.scaledDown }), loadgens: opts.idleScaleLoadgens, runs };
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

export function renderIdleScale(r: IdleScaleResult): string {
  const tick = r.runs.find((x) => x.server === 'tickhub' && !x.error);
  const out = [
    `### Idle memory: ${r.connections} idle subscribers (${r.loadgens} load generators)${r.scaledDown ? `, scaled down from ${r.scaledDown.requested}: ${r.scaledDown.reason}` : ''}`,
    '',
    '| server | from | opened | RSS before MB | RSS after MB | KB / connection | tickhub vs it | alive check |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const x of r.runs) {
    if (x.error) {
      out.push(`| ${x.server} | ${x.sourceAddresses.join(', ')} | error: ${x.error} ||||||`);
      continue;
    }
    out.push(
      `| ${x.server} | ${x.sourceAddresses.join(', ')} | ${x.opened}${x.failed ? ` (${x.failed} failed: ${x.firstError})` : ''} | ${fmt(x.rssBefore / 2 ** 20, 1)} | ${fmt(x.rssAfter / 2 ** 20, 1)} | ${fmt(x.bytesPerConnection / 1024)} | ` +
        `${tick && x !== tick ? `${fmt(tick.bytesPerConnection / x.bytesPerConnection)}×` : '–'} | ${x.aliveReceived}/${x.opened} |`,
    );
  }
  return out.join('\n') + '\n';
}

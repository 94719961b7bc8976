/**
 * Idle memory at scale: N idle subscribers (100,000 by default) opened from several loopback
 * source addresses (127.0.0.2, 127.0.0.3, ...: each address has its own ~28,000 ephemeral ports)
 * by several load-generator processes (each holds N / loadgens sockets), against tickhub, the
 * ceiling and uWS in turn. Reports the server's RSS growth per connection, and checks that every
 * connection is alive by publishing one message to all of them.
 *
 * Needs `ulimit -Hn` above N + 1000 for the server (the runner checks), and loopback addresses
 * beyond 127.0.0.1 (Linux routes all of 127/8 to lo).
 */
import { sleep } from './clock.ts';
import type { BenchOptions } from './cli.ts';
import { LoadgenPool } from './loadgen-pool.ts';
import { measureStep } from './measure.ts';
import { averageRss } from './phases.ts';
import { memory } from './procstat.ts';
import { ServerProcess } from './server-proc.ts';
import type { ServerDef, ServerName } from './targets.ts';

export interface IdleScaleRun {
  server: ServerName;
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
  sourceAddresses: string[];
  loadgens: number;
  runs: IdleScaleRun[];
}

/** `count` loopback source addresses from 127.0.0.2 on. */
export function sourceAddresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`);
}

export async function runIdleScale(defs: readonly ServerDef[], opts: BenchOptions, root: string, logFile: (n: ServerName) => string, log: (line: string) => void): Promise<IdleScaleResult> {
  const n = opts.idleScale;
  // ~28k ephemeral ports per source address (the default 32768-60999 range), with room to spare.
  const addresses = sourceAddresses(Math.max(1, Math.ceil(n / 20_000)));
  const runs: IdleScaleRun[] = [];
  for (const def of defs) {
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
      const alive = await measureStep(server, pool, n, { rate: 1, durationMs: 1, sampleTarget: 1000, p99LimitMs: 1e9, keepUpRatio: 0, acked: def.acked });
      const run: IdleScaleRun = {
        server: def.name,
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
      runs.push({ server: def.name, opened: 0, failed: n, firstError: null, connectMs: 0, rssBefore: 0, rssAfter: 0, peakRss: 0, bytesPerConnection: NaN, aliveReceived: 0, error: (err as Error).message });
      log(`    ERROR ${(err as Error).message}`);
    } finally {
      await pool.disconnect().catch(() => undefined);
      await server?.stop();
      await pool.stop();
    }
  }
  return { connections: n, sourceAddresses: addresses, loadgens: opts.idleScaleLoadgens, runs };
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

export function renderIdleScale(r: IdleScaleResult): string {
  const tick = r.runs.find((x) => x.server === 'tickhub' && !x.error);
  const out = [
    `### Idle memory: ${r.connections} idle subscribers from ${r.sourceAddresses.join(', ')} (${r.loadgens} load generators)`,
    '',
    '| server | opened | RSS before MB | RSS after MB | KB / connection | tickhub vs it | alive check |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const x of r.runs) {
    if (x.error) {
      out.push(`| ${x.server} | error: ${x.error} ||||||`);
      continue;
    }
    out.push(
      `| ${x.server} | ${x.opened}${x.failed ? ` (${x.failed} failed: ${x.firstError})` : ''} | ${fmt(x.rssBefore / 2 ** 20, 1)} | ${fmt(x.rssAfter / 2 ** 20, 1)} | ${fmt(x.bytesPerConnection / 1024)} | ` +
        `${tick && x !== tick ? `${fmt(tick.bytesPerConnection / x.bytesPerConnection)}×` : '–'} | ${x.aliveReceived}/${x.opened} |`,
    );
  }
  return out.join('\n') + '\n';
}

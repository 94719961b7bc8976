/**
 * `npm run bench [-- --quick] [--servers=ceiling,tickhub] [--phases=sweep,latency,idle] ...`
 *
 * Starts each server in its own process and drives it from separate load-generator processes:
 * a publish-rate sweep at 1000 subscribers, a 10-subscriber latency test and a 10,000 idle
 * connection memory test. Prints a markdown report and writes bench/results/<timestamp>.json and
 * bench/results/latest.md. See bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFileLimits } from './lib/child.ts';
import { parseArgs } from './lib/cli.ts';
import { LoadgenPool } from './lib/loadgen-pool.ts';
import { runIdle, runLatency, runSweep, type PhaseContext } from './lib/phases.ts';
import { renderReport, type BenchReport, type ServerReport } from './lib/report.ts';
import { serverDef, unavailableReason } from './lib/targets.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = `${root}/bench/results`;

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(`${resultsDir}/logs`, { recursive: true });
  const log = (line: string): void => void process.stdout.write(`${line}\n`);

  const limits = openFileLimits();
  const fdsNeeded = opts.phases.includes('idle') ? opts.idleConnections + 100 : opts.subscribers + 100;
  if (limits.hard < fdsNeeded) {
    throw new Error(
      `open-files hard limit ${limits.hard} < ${fdsNeeded} needed for ${opts.idleConnections} idle connections; ` +
        `raise it (ulimit -Hn) or pass --idle=N`,
    );
  }

  const started = new Date();
  const servers: ServerReport[] = [];
  const pool = LoadgenPool.start(opts.loadgens, root);
  try {
    for (const name of opts.servers) {
      const report: ServerReport = { name };
      servers.push(report);
      const why = unavailableReason(name, root);
      if (why) {
        log(`\n## ${name}: skipped (${why})`);
        report.skipped = why;
        continue;
      }
      const ctx: PhaseContext = { def: serverDef(name), opts, pool, root, logFile: `${resultsDir}/logs/${stamp}-${name}.log`, log };
      const guard = async <T>(phase: string, fn: () => Promise<T>): Promise<T | { error: string }> => {
        log(`\n## ${name}: ${phase}`);
        try {
          return await fn();
        } catch (err) {
          log(`  ERROR ${(err as Error).message}`);
          return { error: (err as Error).message };
        }
      };
      if (opts.phases.includes('sweep')) report.sweep = await guard(`sweep at ${opts.subscribers} subscribers`, () => runSweep(ctx));
      if (opts.phases.includes('latency'))
        report.latency = await guard(`${opts.latSubscribers} subscribers at ${opts.latRate} msg/s`, () => runLatency(ctx));
      if (opts.phases.includes('idle')) report.idle = await guard(`${opts.idleConnections} idle connections`, () => runIdle(ctx));
    }
  } finally {
    await pool.stop();
  }

  const report: BenchReport = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', kernel: release(), node: process.version },
    options: opts,
    servers,
  };
  const md = renderReport(report);
  log(`\n${md}`);
  writeFileSync(`${resultsDir}/${stamp}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${resultsDir}/latest.md`, md);
  log(`wrote bench/results/${stamp}.json and bench/results/latest.md`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

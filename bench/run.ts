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
import { compareRates, runCompare } from './lib/compare.ts';
import { runIdle, runLatency, runSweep, type PhaseContext, type SweepResult } from './lib/phases.ts';
import { renderReport, type BenchReport, type ServerReport } from './lib/report.ts';
import { serverDef, unavailableReason, type ServerName } from './lib/targets.ts';
import { runIngest } from './lib/ingest.ts';
import { runManyTopics } from './lib/many-topics.ts';
import { IDLE_SCALE_FD_HEADROOM, IDLE_SCALE_MIN, idleScaleSize, runIdleScale } from './lib/idle-scale.ts';
import { runStorm, stormUnavailable } from './lib/storm.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = `${root}/bench/results`;

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  process.env.BENCH_PAYLOAD = opts.payload; // the load generators build their messages from it (payload.ts)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(`${resultsDir}/logs`, { recursive: true });
  const log = (line: string): void => void process.stdout.write(`${line}\n`);

  const limits = openFileLimits();
  // Each server holds every connection of a phase (the load generators split theirs). The
  // scenarios at scale are skipped, with what to change, when this machine's limit is too low.
  const fdsNeeded = Math.max(opts.phases.includes('idle') ? opts.idleConnections + 100 : 0, opts.subscribers + 100);
  if (limits.hard < fdsNeeded) {
    throw new Error(
      `open-files hard limit ${limits.hard} < ${fdsNeeded} needed for --idle=${opts.idleConnections} / --subs=${opts.subscribers}; raise it (ulimit -Hn) or pass smaller sizes`,
    );
  }
  const fdShortfall = (needed: number, flag: string): string | null =>
    limits.hard >= needed
      ? null
      : `open-files hard limit ${limits.hard} < ${needed} needed; raise it (as root: \`prlimit --pid $$ --nofile=${needed + 10_000}:${needed + 10_000}\` in the shell that runs the bench, or nofile in /etc/security/limits.conf) or pass a smaller ${flag}`;

  const started = new Date();
  const report: Partial<BenchReport> = {};
  const servers: ServerReport[] = [];
  let compare: BenchReport['compare'];
  const logFile = (name: ServerName): string => `${resultsDir}/logs/${stamp}-${name}.log`;
  const guard = async <T>(title: string, fn: () => Promise<T>): Promise<T | { error: string }> => {
    log(`\n## ${title}`);
    try {
      return await fn();
    } catch (err) {
      log(`  ERROR ${(err as Error).message}`);
      return { error: (err as Error).message };
    }
  };
  const runnable = opts.servers.filter((name) => {
    const why = unavailableReason(name, root);
    servers.push(why ? { name, skipped: why } : { name });
    if (why) log(`\n## ${name}: skipped (${why})`);
    return !why;
  });
  const reportOf = (name: ServerName): ServerReport => servers.find((s) => s.name === name)!;

  const pool = LoadgenPool.start(opts.loadgens, root);
  try {
    const ctxOf = (name: ServerName): PhaseContext => ({ def: serverDef(name), opts, pool, root, logFile: logFile(name), log });
    if (opts.phases.includes('sweep')) {
      for (const name of runnable) reportOf(name).sweep = await guard(`${name}: sweep at ${opts.subscribers} subscribers`, () => runSweep(ctxOf(name)));
    }
    // uWS joins the paired trials when it runs; the rates stay below the ceiling's and tickhub's maxima.
    const paired = (['ceiling', 'uws', 'tickhub'] as const).filter((n) => runnable.includes(n));
    if (opts.phases.includes('compare') && paired.includes('ceiling') && paired.includes('tickhub')) {
      const maxOf = (n: ServerName): number | null => {
        const sw = reportOf(n).sweep;
        return sw && !('error' in sw && Object.keys(sw).length === 1) ? (sw as SweepResult).maxSustainedRate : null;
      };
      const rates = compareRates(opts.compareRates, (['ceiling', 'tickhub'] as const).map(maxOf));
      compare = await guard(`equal offered load: ${paired.join(' vs ')} at ${rates.join(', ')} msg/s, ${opts.compareTrials} alternating trials`, () =>
        runCompare(paired.map(serverDef), rates, opts, root, logFile, log),
      );
    }
    const scenarioServers = (names: readonly ServerName[]) => names.filter((n) => runnable.includes(n)).map(serverDef);
    if (opts.phases.includes('ingest')) {
      const defs = scenarioServers(['json', 'ceiling', 'uws', 'tickhub']);
      report.ingest = await guard(`ingest: ${defs.map((d) => d.name).join(', ')}; 1 subscriber`, () => runIngest(defs, opts, root, logFile, log));
    }
    if (opts.phases.includes('topics')) {
      const defs = scenarioServers(['ceiling', 'uws', 'tickhub']);
      report.topics = await guard(`many topics: ${defs.map((d) => d.name).join(', ')}; ${opts.topicsCount} topics, ${opts.topicsSubscribers} subscribers`, () => runManyTopics(defs, opts, root, logFile, log));
    }
    if (opts.phases.includes('storm') && runnable.includes('tickhub')) {
      const why = stormUnavailable() ?? fdShortfall(opts.stormSubscribers + 1000, '--storm-subs');
      if (why) log(`\n## reconnect storm: skipped (${why})`);
      report.storm = why
        ? { skipped: why }
        : await guard(`reconnect storm: ${opts.stormSubscribers} tickhub clients on Redis, kill -9 and restart`, () =>
            runStorm(serverDef('tickhub'), runnable.includes('ceiling') ? serverDef('ceiling') : null, opts, root, logFile, log),
          );
    }
    if (opts.phases.includes('idlescale')) {
      // Below --idle-scale when the open-files limit says so (the report says by how much and why).
      const size = idleScaleSize(opts.idleScale, limits.hard);
      if (size === null) {
        const why = fdShortfall(IDLE_SCALE_MIN + IDLE_SCALE_FD_HEADROOM, '--idle-scale');
        log(`\n## idle memory at scale: skipped (${why})`);
        report.idleScale = { error: `skipped: ${why}` };
      } else {
        const defs = scenarioServers(['ceiling', 'uws', 'tickhub']);
        if (size.scaledDown) log(`\n(idle memory at scale: ${size.connections} instead of ${size.scaledDown.requested}: ${size.scaledDown.reason})`);
        report.idleScale = await guard(`idle memory at scale: ${size.connections} subscribers on ${defs.map((d) => d.name).join(', ')}`, () => runIdleScale(defs, size, opts, root, logFile, log));
      }
    }
    for (const name of runnable) {
      if (opts.phases.includes('latency'))
        reportOf(name).latency = await guard(`${name}: ${opts.latSubscribers} subscribers at ${opts.latRate} msg/s`, () => runLatency(ctxOf(name)));
      if (opts.phases.includes('idle'))
        reportOf(name).idle = await guard(`${name}: ${opts.idleConnections} idle connections`, () => runIdle(ctxOf(name)));
    }
  } finally {
    await pool.stop();
  }

  const full: BenchReport = {
    ...report,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', kernel: release(), node: process.version },
    options: opts,
    servers,
    compare,
  };
  const md = renderReport(full);
  log(`\n${md}`);
  writeFileSync(`${resultsDir}/${stamp}.json`, `${JSON.stringify(full, null, 2)}\n`);
  writeFileSync(`${resultsDir}/latest.md`, md);
  log(`wrote bench/results/${stamp}.json and bench/results/latest.md`);
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});

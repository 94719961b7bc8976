/**
 * Equal-offered-load comparison: several servers run at once, each with its own load-generator
 * process and subscribers, and steps alternate between them at the same rates. Pairing the
 * trials this way exposes every server to the same machine conditions, which matters on a small
 * shared machine where a sequential comparison mostly measures who ran during a quiet minute.
 */
import { sleep } from './clock.ts';
import type { BenchOptions } from './cli.ts';
import { LoadgenPool } from './loadgen-pool.ts';
import { measureStep, waitQuiet, type StepResult, type StepSpec } from './measure.ts';
import { ServerProcess } from './server-proc.ts';
import { median } from './stats.ts';
import type { ServerDef, ServerName } from './targets.ts';

/** Medians over the trials of one server at one rate. */
export interface CompareCell {
  server: ServerName;
  rate: number;
  trials: number;
  sustained: number;
  deliveriesPerCpuSec: number;
  serverCores: number;
  p50: number;
  p99: number;
  max: number;
  loadgenCores: number;
  foreignCores: number;
}

export interface CompareResult {
  subscribers: number;
  rates: number[];
  cells: CompareCell[];
  steps: Array<StepResult & { server: ServerName }>;
}

interface Running {
  def: ServerDef;
  pool: LoadgenPool;
  server: ServerProcess | null;
}

/** Runs `opts.compareTrials` alternating trials of every server at every rate. */
export async function runCompare(
  defs: ServerDef[],
  rates: number[],
  opts: BenchOptions,
  root: string,
  logFile: (name: ServerName) => string,
  log: (line: string) => void,
): Promise<CompareResult> {
  const n = opts.subscribers;
  const spec = (rate: number, durationMs: number): StepSpec => ({
    rate,
    durationMs,
    sampleTarget: opts.sampleTarget,
    p99LimitMs: opts.p99LimitMs,
    keepUpRatio: opts.keepUpRatio,
  });
  const running: Running[] = defs.map((def) => ({ def, pool: LoadgenPool.start(1, root), server: null }));
  const start = async (r: Running): Promise<ServerProcess> => {
    if (r.server) {
      await r.pool.disconnect().catch(() => undefined);
      await r.server.stop();
    }
    const server = await ServerProcess.start(r.def, root, logFile(r.def.name));
    r.server = server;
    const c = await r.pool.connect(r.def.sub(server.port), r.def.pub(server.port), n);
    if (c.failed) throw new Error(`${r.def.name}: ${c.failed} connections failed: ${c.firstError}`);
    await measureStep(server, r.pool, n, spec(rates[0], 1000));
    return server;
  };
  const allPids = (): number[] => [process.pid, ...running.flatMap((r) => [r.server?.pid ?? -1, ...r.pool.pids])];
  const steps: CompareResult['steps'] = [];
  try {
    for (const r of running) await start(r);
    for (let t = 0; t < opts.compareTrials; t++) {
      for (const rate of rates) {
        // Alternate which server goes first so neither always follows the other.
        const order = t % 2 === 0 ? running : [...running].reverse();
        for (const r of order) {
          if (opts.quietWaitMs > 0) {
            const other = await waitQuiet(allPids, opts.quietCores, opts.quietWaitMs);
            if (other > opts.quietCores) log(`  (other programs still use ${other.toFixed(2)} cores; measuring anyway)`);
          }
          const s = await measureStep(r.server!, r.pool, n, spec(rate, opts.stepMs));
          steps.push({ ...s, server: r.def.name });
          log(
            `  ${r.def.name.padEnd(8)} ${String(rate).padStart(5)} msg/s  ${(s.deliveriesPerCpuSec / 1e6).toFixed(2)} M/cpu-s  ` +
              `cpu ${(s.serverCores * 100).toFixed(0)}%  p50 ${s.latency.p50.toFixed(2)} p99 ${s.latency.p99.toFixed(2)} ms  ` +
              `loadgen ${(s.loadgenCores[0] * 100).toFixed(0)}%  others ${s.foreignCores.toFixed(2)}${s.sustained ? '' : `  [${s.failReasons.join('; ')}]`}`,
          );
          if (!s.sustained) await start(r); // do not let a backlog leak into the next step
          await sleep(200);
        }
      }
    }
  } finally {
    for (const r of running) {
      await r.pool.disconnect().catch(() => undefined);
      await r.server?.stop();
      await r.pool.stop();
    }
  }
  const cells: CompareCell[] = [];
  for (const rate of rates) {
    for (const r of running) {
      const mine = steps.filter((s) => s.server === r.def.name && s.rate === rate);
      const ok = mine.filter((s) => s.sustained);
      const use = ok.length ? ok : mine;
      cells.push({
        server: r.def.name,
        rate,
        trials: mine.length,
        sustained: ok.length,
        deliveriesPerCpuSec: median(use.map((s) => s.deliveriesPerCpuSec)),
        serverCores: median(use.map((s) => s.serverCores)),
        p50: median(use.map((s) => s.latency.p50)),
        p99: median(use.map((s) => s.latency.p99)),
        max: median(use.map((s) => s.latency.max)),
        loadgenCores: median(use.map((s) => s.loadgenCores[0])),
        foreignCores: median(use.map((s) => s.foreignCores)),
      });
    }
  }
  return { subscribers: n, rates, cells, steps };
}

/**
 * Rates for the comparison: the candidates below `fraction` of the lowest max-sustained rate
 * among the compared servers (all candidates when no sweep ran).
 */
export function compareRates(candidates: readonly number[], maxSustained: Array<number | null>, fraction = 0.8): number[] {
  const known = maxSustained.filter((x): x is number => x !== null);
  if (known.length === 0) return [...candidates];
  const cap = Math.min(...known) * fraction;
  const picked = candidates.filter((r) => r <= cap);
  return picked.length ? picked : [Math.max(25, Math.round(cap / 25) * 25)];
}

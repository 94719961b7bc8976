/**
 * Ingest: how fast a server takes publishes. One subscriber (the bench topic), 1 or more
 * publisher connections, rising rates until a step loses messages, leaves some unacknowledged,
 * falls behind its rate or has p99 > the limit. Every server/form/publishers combination runs on
 * a fresh server process, in the same invocation, so ratios compare like with like.
 *
 * The measure is messages per server CPU-second at equal offered rate (the highest rate both
 * sides sustained), with p50/p99 publish-to-receive latency; the highest sustained rate is shown
 * beside it.
 */
import { sleep } from './clock.ts';
import type { BenchOptions } from './cli.ts';
import { LoadgenPool } from './loadgen-pool.ts';
import { measureStep, waitQuiet, type StepResult } from './measure.ts';
import { ServerProcess } from './server-proc.ts';
import type { IngestForm, ServerDef, ServerName } from './targets.ts';

export interface IngestRun {
  server: ServerName;
  form: IngestForm;
  publishers: number;
  steps: StepResult[];
  maxSustainedRate: number | null;
  error?: string;
}

export interface IngestResult {
  rates: number[];
  batch: number;
  runs: IngestRun[];
}

/** The combinations to run: every form of every server that is among `forms`, at each publisher count. */
export function ingestPlan(defs: readonly ServerDef[], publishers: readonly number[], forms: readonly IngestForm[]): Array<{ def: ServerDef; form: IngestForm; publishers: number }> {
  const plan: Array<{ def: ServerDef; form: IngestForm; publishers: number }> = [];
  for (const p of publishers) for (const def of defs) for (const form of def.forms) if (forms.includes(form)) plan.push({ def, form, publishers: p });
  return plan;
}

/** Runs the ingest sweeps. */
export async function runIngest(defs: readonly ServerDef[], opts: BenchOptions, root: string, logFile: (n: ServerName) => string, log: (line: string) => void): Promise<IngestResult> {
  const runs: IngestRun[] = [];
  const pool = LoadgenPool.start(1, root);
  try {
    for (const { def, form, publishers } of ingestPlan(defs, opts.ingestPublishers, opts.ingestForms)) {
      log(`  ${def.name} ${form}, ${publishers} publisher(s):`);
      const run: IngestRun = { server: def.name, form, publishers, steps: [], maxSustainedRate: null };
      runs.push(run);
      let server: ServerProcess | null = null;
      try {
        server = await ServerProcess.start(def, root, logFile(def.name));
        const srv = server;
        const pubTarget = def.pub(srv.port, { form, connections: publishers, batch: opts.ingestBatch, httpSockets: opts.ingestHttpSockets });
        const c = await pool.connect(def.sub(srv.port), pubTarget, 1);
        if (c.failed) throw new Error(`${c.failed} connections failed: ${c.firstError}`);
        const spec = (rate: number, durationMs: number) => ({ rate, durationMs, sampleTarget: opts.sampleTarget, p99LimitMs: opts.p99LimitMs, keepUpRatio: opts.keepUpRatio, acked: def.acked });
        await measureStep(srv, pool, 1, spec(Math.min(1000, opts.ingestRates[0]), 500)); // warm-up
        for (const rate of opts.ingestRates) {
          if (opts.quietWaitMs > 0) await waitQuiet(() => [srv.pid, process.pid, ...pool.pids], opts.quietCores, opts.quietWaitMs);
          const s = await measureStep(srv, pool, 1, spec(rate, opts.stepMs));
          run.steps.push(s);
          log(
            `    ${s.sustained ? 'ok  ' : 'FAIL'} ${String(rate).padStart(6)} msg/s  ${(s.messagesPerCpuSec / 1e3).toFixed(0)}k msg/cpu-s  cpu ${(s.serverCores * 100).toFixed(0)}%  ` +
              `p50 ${s.latency.p50.toFixed(2)} p99 ${s.latency.p99.toFixed(2)} ms  requests ${s.requests}  loadgen ${(s.loadgenCores[0] * 100).toFixed(0)}%${s.loadgenBound ? ' (BOUND)' : ''}  others ${s.foreignCores.toFixed(2)}` +
              (s.sustained ? '' : `  [${s.failReasons.join('; ')}]`),
          );
          if (!s.sustained) break;
          run.maxSustainedRate = rate;
          await sleep(100);
        }
      } catch (err) {
        run.error = (err as Error).message;
        log(`    ERROR ${run.error}`);
      } finally {
        await pool.disconnect().catch(() => undefined);
        await server?.stop();
      }
    }
  } finally {
    await pool.stop();
  }
  return { rates: opts.ingestRates, batch: opts.ingestBatch, runs };
}

/** `a` vs `b` at the highest rate both sustained: messages/CPU-s ratio and p99 ratio. */
export function equalRate(a: IngestRun, b: IngestRun): { rate: number; cpuRatio: number; p99Ratio: number } | null {
  const ok = (r: IngestRun) => new Map(r.steps.filter((s) => s.sustained).map((s) => [s.rate, s]));
  const sa = ok(a);
  const sb = ok(b);
  const common = [...sa.keys()].filter((r) => sb.has(r)).sort((x, y) => y - x);
  if (!common.length) return null;
  const x = sa.get(common[0])!;
  const y = sb.get(common[0])!;
  return { rate: common[0], cpuRatio: x.messagesPerCpuSec / y.messagesPerCpuSec, p99Ratio: x.latency.p99 / y.latency.p99 };
}

const fmt = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** Markdown tables: per publisher count, every run with its ratios to the JSON floor (and tickhub's batch vs its per-message form). */
export function renderIngest(res: IngestResult): string {
  const out: string[] = [];
  const counts = [...new Set(res.runs.map((r) => r.publishers))];
  for (const p of counts) {
    const runs = res.runs.filter((r) => r.publishers === p);
    const floor = runs.find((r) => r.server === 'json' && r.form === 'single') ?? null;
    out.push(`### Ingest: ${p} publisher(s) → 1 subscriber (rates ${res.rates.join(', ')} msg/s; batches of ${res.batch})`, '');
    out.push('| server | form | max sustained msg/s | at msg/s | k msg / CPU-s | p50 ms | p99 ms | vs JSON hub per CPU | p99 vs JSON hub | first failure |');
    out.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of runs) {
      if (r.error && !r.steps.length) {
        out.push(`| ${r.server} | ${r.form} | error: ${r.error} |||||||`);
        continue;
      }
      const best = [...r.steps].reverse().find((s) => s.sustained) ?? null;
      const vs = floor && floor !== r ? equalRate(r, floor) : null;
      const failed = r.steps.find((s) => !s.sustained);
      out.push(
        `| ${r.server} | ${r.form} | ${r.maxSustainedRate ?? 'none'}${failed ? '' : '+'} | ${best?.rate ?? '–'} | ${fmt(best ? best.messagesPerCpuSec / 1e3 : null, 0)} | ${fmt(best?.latency.p50)} | ${fmt(best?.latency.p99)} | ` +
          `${vs ? `${fmt(vs.cpuRatio)}× @${vs.rate}` : '–'} | ${vs ? `${fmt(vs.p99Ratio)}×` : '–'} | ${failed ? `${failed.rate}: ${failed.failReasons.join('; ')}` : '–'} |`,
      );
    }
    out.push('');
    const single = runs.find((r) => r.server === 'tickhub' && r.form === 'single');
    const pairs: Array<[string, IngestRun | undefined, IngestRun | undefined]> = [
      ['tickhub batch / tickhub pub', runs.find((r) => r.server === 'tickhub' && r.form === 'batch'), single],
      ['tickhub HTTP batch / tickhub HTTP', runs.find((r) => r.server === 'tickhub' && r.form === 'http-batch'), runs.find((r) => r.server === 'tickhub' && r.form === 'http')],
      ['JSON hub batch / JSON hub pub', runs.find((r) => r.server === 'json' && r.form === 'batch'), floor ?? undefined],
    ];
    const lines = pairs.map(([name, a, b]) => {
      if (!a || !b) return null;
      const v = equalRate(a, b);
      const maxRatio = a.maxSustainedRate && b.maxSustainedRate ? a.maxSustainedRate / b.maxSustainedRate : null;
      return `| ${name} | ${v ? `${fmt(v.cpuRatio)}× @${v.rate}` : '–'} | ${fmt(maxRatio)}×${a.steps.every((s) => s.sustained) ? ' (numerator not saturated)' : ''} |`;
    });
    if (lines.some(Boolean)) out.push('| batch vs per-message | msg / CPU-s at equal rate | max sustained rate |', '|---|---|---|', ...lines.filter((l): l is string => l !== null), '');
  }
  return out.join('\n');
}

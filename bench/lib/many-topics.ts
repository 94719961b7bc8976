/**
 * Many topics: 1000 topics (`ticks.S0000`...), messages spread round-robin over them, and 1000
 * subscribers with a realistic mix: a few on `>`, some on `ticks.*`, most on 5-20 exact symbols.
 * Every server gets the same subscriptions (uWS expands the wildcards itself, having none) and
 * each subscriber's expected count is computed from the messages sent, so loss is exact.
 */
import type { BenchOptions } from './cli.ts';
import { LoadgenPool } from './loadgen-pool.ts';
import { measureStep, waitQuiet, type StepResult } from './measure.ts';
import { manyTopics } from './payload.ts';
import { ServerProcess } from './server-proc.ts';
import type { IngestForm, ServerDef, ServerName } from './targets.ts';

/** Share of subscribers on `>` and on `ticks.*`; the rest take 5-20 exact symbols. */
const ALL_SHARE = 0.03;
const STAR_SHARE = 0.1;

/** A small deterministic PRNG (mulberry32), so every server and every run get the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The subscription mix: `subscribers` lists of patterns over `topics`. */
export function subscriptionMix(subscribers: number, topics: readonly string[], seed = 1): string[][] {
  const rand = prng(seed);
  const nAll = Math.round(subscribers * ALL_SHARE);
  const nStar = Math.round(subscribers * STAR_SHARE);
  const mix: string[][] = [];
  for (let i = 0; i < subscribers; i++) {
    if (i < nAll) mix.push(['>']);
    else if (i < nAll + nStar) mix.push(['ticks.*']);
    else {
      const want = Math.min(topics.length, 5 + Math.floor(rand() * 16));
      const picked = new Set<string>();
      while (picked.size < want) picked.add(topics[Math.floor(rand() * topics.length)]);
      mix.push([...picked]);
    }
  }
  return mix;
}

/** What each subscriber of `mix` should receive when message i goes to topics[i % topics.length], i < sent. */
export function expectedCounts(mix: readonly string[][], topics: readonly string[], sent: number): number[] {
  const per = new Map<string, number>();
  const rounds = Math.floor(sent / topics.length);
  const rest = sent % topics.length;
  topics.forEach((t, k) => per.set(t, rounds + (k < rest ? 1 : 0)));
  return mix.map((patterns) => {
    if (patterns.includes('>') || patterns.includes('ticks.*')) return sent;
    let n = 0;
    for (const p of patterns) n += per.get(p) ?? 0;
    return n;
  });
}

export interface ManyTopicsRun {
  server: ServerName;
  form: IngestForm;
  steps: StepResult[];
  error?: string;
}

export interface ManyTopicsResult {
  topics: number;
  subscribers: number;
  mix: { all: number; star: number; exact: number; exactSymbolsMean: number };
  rates: number[];
  runs: ManyTopicsRun[];
}

/** Runs each server at each rate on the same subscription mix. */
export async function runManyTopics(defs: readonly ServerDef[], opts: BenchOptions, root: string, logFile: (n: ServerName) => string, log: (line: string) => void): Promise<ManyTopicsResult> {
  const topics = manyTopics(opts.topicsCount);
  const mix = subscriptionMix(opts.topicsSubscribers, topics);
  const exact = mix.filter((m) => !m.includes('>') && !m.includes('ticks.*'));
  const runs: ManyTopicsRun[] = [];
  const pool = LoadgenPool.start(1, root);
  try {
    for (const def of defs) {
      const form: IngestForm = def.forms.includes(opts.topicsForm) ? opts.topicsForm : def.forms[0];
      const run: ManyTopicsRun = { server: def.name, form, steps: [] };
      runs.push(run);
      let server: ServerProcess | null = null;
      try {
        server = await ServerProcess.start(def, root, logFile(def.name));
        const srv = server;
        const c = await pool.connect(def.sub(srv.port), def.pub(srv.port, { form, topics, batch: opts.ingestBatch }), mix.length, 100, mix.map((m) => def.subPath(m)));
        if (c.failed) throw new Error(`${c.failed} connections failed: ${c.firstError}`);
        log(`  ${def.name} (${form}): ${mix.length} subscribers connected in ${c.ms.toFixed(0)} ms`);
        const spec = (rate: number, durationMs: number) => ({
          rate,
          durationMs,
          sampleTarget: opts.sampleTarget,
          p99LimitMs: opts.p99LimitMs,
          keepUpRatio: opts.keepUpRatio,
          acked: def.acked,
          expectedPer: (sent: number) => expectedCounts(mix, topics, sent),
        });
        await measureStep(srv, pool, mix.length, spec(Math.min(500, opts.topicsRates[0]), 1000)); // warm-up
        for (const rate of opts.topicsRates) {
          if (opts.quietWaitMs > 0) await waitQuiet(() => [srv.pid, process.pid, ...pool.pids], opts.quietCores, opts.quietWaitMs);
          const s = await measureStep(srv, pool, mix.length, spec(rate, opts.stepMs));
          run.steps.push(s);
          log(
            `    ${s.sustained ? 'ok  ' : 'FAIL'} ${String(rate).padStart(6)} msg/s  delivered ${(s.deliveredPerSec / 1e6).toFixed(3)} M/s  ${(s.deliveriesPerCpuSec / 1e6).toFixed(2)} M/cpu-s  ` +
              `cpu ${(s.serverCores * 100).toFixed(0)}%  p50 ${s.latency.p50.toFixed(2)} p99 ${s.latency.p99.toFixed(2)} ms  lost ${s.lost}  loadgen ${(s.loadgenCores[0] * 100).toFixed(0)}%  others ${s.foreignCores.toFixed(2)}` +
              (s.sustained ? '' : `  [${s.failReasons.join('; ')}]`),
          );
          if (!s.sustained) break;
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
  return {
    topics: topics.length,
    subscribers: mix.length,
    mix: { all: mix.filter((m) => m.includes('>')).length, star: mix.filter((m) => m.includes('ticks.*')).length, exact: exact.length, exactSymbolsMean: exact.reduce((a, m) => a + m.length, 0) / Math.max(1, exact.length) },
    rates: opts.topicsRates,
    runs,
  };
}

const fmt = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** Markdown: one row per server and rate, with tickhub's ratios to the ceiling and uWS at the same rate. */
export function renderManyTopics(r: ManyTopicsResult): string {
  const out = [
    `### Many topics: ${r.topics} topics, ${r.subscribers} subscribers (${r.mix.all} on \`>\`, ${r.mix.star} on \`ticks.*\`, ${r.mix.exact} on ${fmt(r.mix.exactSymbolsMean, 1)} exact symbols on average)`,
    '',
    '| server | form | msg/s | sustained | deliveries/s (M) | M deliveries / CPU-s | p50 ms | p99 ms | lost | tickhub vs it (per CPU) | tickhub p99 vs it |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const tick = r.runs.find((x) => x.server === 'tickhub');
  for (const run of r.runs) {
    if (run.error && !run.steps.length) {
      out.push(`| ${run.server} | ${run.form} | error: ${run.error} |||||||||`);
      continue;
    }
    for (const s of run.steps) {
      const t = run.server !== 'tickhub' ? tick?.steps.find((x) => x.rate === s.rate) : undefined;
      out.push(
        `| ${run.server} | ${run.form} | ${s.rate} | ${s.sustained ? 'yes' : `no: ${s.failReasons.join('; ')}`} | ${fmt(s.deliveredPerSec / 1e6, 3)} | ${fmt(s.deliveriesPerCpuSec / 1e6)} | ${fmt(s.latency.p50)} | ${fmt(s.latency.p99)} | ${s.lost} | ` +
          `${t ? `${fmt(t.deliveriesPerCpuSec / s.deliveriesPerCpuSec)}×` : '–'} | ${t ? `${fmt(t.latency.p99 / s.latency.p99)}×` : '–'} |`,
      );
    }
  }
  return out.join('\n') + '\n';
}

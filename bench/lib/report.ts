/** The bench report: JSON shape and its markdown rendering. */
import type { BenchOptions } from './cli.ts';
import type { CompareResult } from './compare.ts';
import type { StepResult } from './measure.ts';
import type { IdleResult, LatencyResult, SweepResult } from './phases.ts';
import { median } from './stats.ts';
import type { ServerName } from './targets.ts';
import { renderIngest, type IngestResult } from './ingest.ts';
import { renderManyTopics, type ManyTopicsResult } from './many-topics.ts';
import { renderIdleScale, type IdleScaleResult } from './idle-scale.ts';
import { renderStorm, type StormResult } from './storm.ts';
import { renderScenarioTargets } from './scenario-targets.ts';

type Maybe<T> = T | { error: string };

export interface ServerReport {
  name: ServerName;
  skipped?: string;
  sweep?: Maybe<SweepResult>;
  latency?: Maybe<LatencyResult>;
  idle?: Maybe<IdleResult>;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; kernel: string; node: string };
  options: BenchOptions;
  servers: ServerReport[];
  /** Paired equal-load trials of tickhub and the ceiling. */
  compare?: Maybe<CompareResult>;
  comparison?: Comparison;
  /** The scenarios beyond one topic (ingest, many topics, reconnect storm, idle at scale). */
  ingest?: Maybe<IngestResult>;
  topics?: Maybe<ManyTopicsResult>;
  idleScale?: Maybe<IdleScaleResult>;
  storm?: Maybe<StormResult> | { skipped: string };
}

/** tickhub vs the ceiling (and Socket.IO), computed from one invocation. */
export interface Comparison {
  throughputVsCeiling: number | null;
  throughputVsSocketIo: number | null;
  /** Per rate: tickhub / ceiling, from the paired comparison if it ran, else from the sweeps. */
  equalLoad: Array<{ rate: number; cpuRatio: number; p99Ratio: number }>;
  equalLoadSource: 'paired' | 'sweep';
  /** Medians over the compared rates, and the worst rate. */
  cpuRatio: number | null;
  p99Ratio: number | null;
  cpuRatioWorst: number | null;
  p99RatioWorst: number | null;
  /** Per paired rate: tickhub's deliveries per CPU-s over uWebSockets.js's (when uws was paired too). */
  vsUws: Array<{ rate: number; cpuRatio: number }>;
  /** Median of vsUws, and the worst rate. */
  cpuRatioVsUws: number | null;
  cpuRatioVsUwsWorst: number | null;
  latencyP99: number | null;
  idleKbPerConnection: number | null;
}

function ok<T extends object>(x: Maybe<T> | undefined): T | null {
  return x && !('error' in x && Object.keys(x).length === 1) ? (x as T) : null;
}

const f = (x: number | null | undefined, digits = 2): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
const mega = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : (x / 1e6).toFixed(3));
const mb = (x: number): string => (x / 2 ** 20).toFixed(0);

/** The last sustained step of a sweep at `rate`, if any. */
function sustainedAt(sweep: SweepResult, rate: number): StepResult | null {
  const s = sweep.steps.filter((x) => x.rate === rate && x.sustained);
  return s.length ? s[s.length - 1] : null;
}

/** Computes tickhub's ratios against the servers measured in the same run. */
export function compare(servers: readonly ServerReport[], paired?: CompareResult | null): Comparison | undefined {
  const get = (n: ServerName): ServerReport | undefined => servers.find((s) => s.name === n);
  const hub = get('tickhub');
  if (!hub || hub.skipped) return undefined;
  const hubSweep = ok(hub.sweep);
  const ceilSweep = ok(get('ceiling')?.sweep);
  const sioSweep = ok(get('socketio')?.sweep);
  const tput = (s: SweepResult | null): number | null => s?.maxSustainedDeliveriesPerSec ?? null;
  const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);
  const equalLoad: Comparison['equalLoad'] = [];
  if (paired) {
    for (const rate of paired.rates) {
      const c = paired.cells.find((x) => x.server === 'ceiling' && x.rate === rate);
      const h = paired.cells.find((x) => x.server === 'tickhub' && x.rate === rate);
      if (c && h && c.sustained > 0 && h.sustained > 0)
        equalLoad.push({ rate, cpuRatio: h.deliveriesPerCpuSec / c.deliveriesPerCpuSec, p99Ratio: h.p99 / c.p99 });
    }
  } else if (hubSweep && ceilSweep) {
    const rates = [...new Set(ceilSweep.steps.map((s) => s.rate))].sort((a, b) => a - b);
    for (const rate of rates) {
      const c = sustainedAt(ceilSweep, rate);
      const h = sustainedAt(hubSweep, rate);
      if (c && h) equalLoad.push({ rate, cpuRatio: h.deliveriesPerCpuSec / c.deliveriesPerCpuSec, p99Ratio: h.latency.p99 / c.latency.p99 });
    }
  }
  const vsUws: Comparison['vsUws'] = [];
  for (const rate of paired?.rates ?? []) {
    const u = paired!.cells.find((x) => x.server === 'uws' && x.rate === rate);
    const h = paired!.cells.find((x) => x.server === 'tickhub' && x.rate === rate);
    if (u && h && u.sustained > 0 && h.sustained > 0) vsUws.push({ rate, cpuRatio: h.deliveriesPerCpuSec / u.deliveriesPerCpuSec });
  }
  const uwsRatios = vsUws.map((e) => e.cpuRatio);
  const cpuRatios = equalLoad.map((e) => e.cpuRatio);
  const p99Ratios = equalLoad.map((e) => e.p99Ratio);
  return {
    throughputVsCeiling: ratio(tput(hubSweep), tput(ceilSweep)),
    throughputVsSocketIo: ratio(tput(hubSweep), tput(sioSweep)),
    equalLoad,
    equalLoadSource: paired ? 'paired' : 'sweep',
    cpuRatio: equalLoad.length ? median(cpuRatios) : null,
    p99Ratio: equalLoad.length ? median(p99Ratios) : null,
    cpuRatioWorst: equalLoad.length ? Math.min(...cpuRatios) : null,
    p99RatioWorst: equalLoad.length ? Math.max(...p99Ratios) : null,
    vsUws,
    cpuRatioVsUws: vsUws.length ? median(uwsRatios) : null,
    cpuRatioVsUwsWorst: vsUws.length ? Math.min(...uwsRatios) : null,
    latencyP99: ok(hub.latency)?.p99 ?? null,
    idleKbPerConnection: ok(hub.idle) ? ok(hub.idle)!.bytesPerConnection / 1024 : null,
  };
}

function stepRow(name: string, s: StepResult): string {
  return `| ${name} | ${s.rate} | ${s.sustained ? 'yes' : 'no'} | ${mega(s.deliveredPerSec)} | ${f(s.serverCores * 100, 0)}% | ${mega(s.deliveriesPerCpuSec)} | ${f(s.latency.p50)} | ${f(s.latency.p99)} | ${f(s.latency.max, 1)} | ${s.lost} | ${mb(s.serverPeakRss)} | ${s.loadgenCores.map((c) => f(c * 100, 0)).join('/')}%${s.loadgenBound ? ' BOUND' : ''} | ${f(s.foreignCores)} | ${s.failReasons.join('; ')} |`;
}

/** Markdown report: summary tables, tickhub targets, then every sweep step. */
export function renderReport(r: BenchReport): string {
  const o = r.options;
  const paired = ok(r.compare);
  const cmp = compare(r.servers, paired);
  r.comparison = cmp;
  const out: string[] = [];
  out.push(`# tickhub bench ${r.startedAt}`, '');
  out.push(
    `${r.machine.cpus} × ${r.machine.cpuModel}, Linux ${r.machine.kernel}, Node ${r.machine.node}. ` +
      `${o.quick ? 'Quick run. ' : ''}Messages ~150 bytes on the wire${o.payload === 'ticks' ? ' (--payload=ticks: market ticks)' : ''}, one topic. Sweep: ${o.subscribers} subscribers, ` +
      `${o.stepMs / 1000} s per step, "sustained" = no loss, no disconnect, delivery ≥ ${o.keepUpRatio * 100}% of offered, p99 ≤ ${o.p99LimitMs} ms. ` +
      `${o.loadgens} load-generator process(es). Server CPU from /proc (on loopback it includes the kernel's receive path).`,
    '',
  );

  if (o.phases.includes('sweep')) {
    out.push(`## Throughput at ${o.subscribers} subscribers`, '');
    out.push('| server | max sustained msg/s | deliveries/s (M) | vs ceiling | M deliveries / CPU-s | p50 ms | p99 ms | max ms | peak RSS MB | loadgen CPU | first failure |');
    out.push('|---|---|---|---|---|---|---|---|---|---|---|');
    const ceilTput = ok(r.servers.find((s) => s.name === 'ceiling')?.sweep)?.maxSustainedDeliveriesPerSec ?? null;
    for (const s of r.servers) {
      if (s.skipped) {
        out.push(`| ${s.name} | skipped: ${s.skipped} ||||||||||`);
        continue;
      }
      const sw = ok(s.sweep);
      if (!sw) {
        out.push(`| ${s.name} | error: ${(s.sweep as { error?: string } | undefined)?.error ?? 'not run'} ||||||||||`);
        continue;
      }
      const best = sw.maxSustainedRate !== null ? sustainedAt(sw, sw.maxSustainedRate) : null;
      // The lowest rate at which no attempt was sustained (a retry that passed clears a rate).
      const fail = sw.steps
        .filter((x) => !x.sustained && !sw.steps.some((y) => y.rate === x.rate && y.sustained))
        .sort((a, b) => a.rate - b.rate)[0];
      out.push(
        `| ${s.name} | ${sw.maxSustainedRate ?? 'none'}${sw.unsaturated ? '+ (not saturated)' : ''} | ${mega(sw.maxSustainedDeliveriesPerSec)} | ` +
          `${ceilTput && sw.maxSustainedDeliveriesPerSec ? f(sw.maxSustainedDeliveriesPerSec / ceilTput) : '–'} | ${mega(best?.deliveriesPerCpuSec)} | ` +
          `${f(best?.latency.p50)} | ${f(best?.latency.p99)} | ${f(best?.latency.max, 1)} | ${best ? mb(best.serverPeakRss) : '–'} | ` +
          `${best ? best.loadgenCores.map((c) => f(c * 100, 0)).join('/') + '%' : '–'} | ` +
          `${fail ? `${fail.rate}: ${fail.failReasons.join('; ')}` : '–'}${sw.error ? ` ERROR ${sw.error}` : ''} |`,
      );
    }
    out.push('');
  }

  if (o.phases.includes('latency')) {
    out.push(`## Latency: ${o.latSubscribers} subscribers at ${o.latRate} msg/s (median of ${o.latTrials})`, '');
    out.push('| server | p50 ms | p99 ms | max ms | lost |', '|---|---|---|---|---|');
    for (const s of r.servers) {
      if (s.skipped || !s.latency) continue;
      const l = ok(s.latency);
      out.push(l ? `| ${s.name} | ${f(l.p50, 3)} | ${f(l.p99, 3)} | ${f(l.max, 2)} | ${l.lost} |` : `| ${s.name} | error: ${(s.latency as { error: string }).error} ||||`);
    }
    out.push('');
  }

  if (o.phases.includes('idle')) {
    out.push(`## Memory: ${o.idleConnections} idle subscribers`, '');
    out.push('| server | opened | RSS before MB | RSS after MB | KB / connection | alive check |', '|---|---|---|---|---|---|');
    for (const s of r.servers) {
      if (s.skipped || !s.idle) continue;
      const m = ok(s.idle);
      out.push(
        m
          ? `| ${s.name} | ${m.opened}${m.failed ? ` (${m.failed} failed)` : ''} | ${f(m.rssBefore / 2 ** 20, 1)} | ${f(m.rssAfter / 2 ** 20, 1)} | ${f(m.bytesPerConnection / 1024)} | ${m.aliveReceived}/${m.opened} |`
          : `| ${s.name} | error: ${(s.idle as { error: string }).error} |||||`,
      );
    }
    out.push('');
  }

  if (r.compare) {
    out.push(`## Equal offered load, ${o.subscribers} subscribers (median of ${o.compareTrials} alternating trials)`, '');
    if (!paired) out.push(`error: ${(r.compare as { error: string }).error}`, '');
    else {
      out.push('| msg/s | server | sustained | server CPU | M deliveries / CPU-s | p50 ms | p99 ms | max ms | loadgen CPU | other programs (cores) |');
      out.push('|---|---|---|---|---|---|---|---|---|---|');
      for (const c of paired.cells)
        out.push(
          `| ${c.rate} | ${c.server} | ${c.sustained}/${c.trials} | ${f(c.serverCores * 100, 0)}% | ${mega(c.deliveriesPerCpuSec)} | ${f(c.p50)} | ${f(c.p99)} | ${f(c.max, 1)} | ${f(c.loadgenCores * 100, 0)}% | ${f(c.foreignCores)} |`,
        );
      out.push('');
    }
  }

  if (cmp && (o.phases.includes('sweep') || o.phases.includes('compare'))) {
    out.push('## tickhub targets', '');
    const pass = (c: boolean | null): string => (c === null ? 'n/a' : c ? 'PASS' : 'FAIL');
    const t = (x: number | null, good: (v: number) => boolean): boolean | null => (x === null ? null : good(x));
    out.push('| target | measured | result |', '|---|---|---|');
    out.push(`| max sustained throughput ≥ 0.8× ceiling | ${f(cmp.throughputVsCeiling)}× | ${pass(t(cmp.throughputVsCeiling, (v) => v >= 0.8))} |`);
    out.push(`| max sustained throughput ≥ 20× Socket.IO | ${f(cmp.throughputVsSocketIo, 1)}× | ${pass(t(cmp.throughputVsSocketIo, (v) => v >= 20))} |`);
    const rates = cmp.equalLoad.map((e) => e.rate).join(', ') || '–';
    out.push(`| deliveries per CPU-s ≥ 0.8× ceiling at equal load (median over ${rates} msg/s) | ${f(cmp.cpuRatio)}× (worst ${f(cmp.cpuRatioWorst)}×) | ${pass(t(cmp.cpuRatio, (v) => v >= 0.8))} |`);
    out.push(`| p99 ≤ 1.2× ceiling at equal load (median over ${rates} msg/s) | ${f(cmp.p99Ratio)}× (worst ${f(cmp.p99RatioWorst)}×) | ${pass(t(cmp.p99Ratio, (v) => v <= 1.2))} |`);
    if (cmp.vsUws.length) {
      const each = cmp.vsUws.map((e) => `${f(e.cpuRatio)}× at ${e.rate}`).join(', ');
      out.push(`| deliveries per CPU-s ≥ 0.8× uWebSockets.js at equal load (paired; median) | ${f(cmp.cpuRatioVsUws)}× (${each}) | ${pass(t(cmp.cpuRatioVsUws, (v) => v >= 0.8))} |`);
      // Issue 16 sets the uWS target for fan-out at 1500 msg/s: the lowest paired rate from there.
      const atIssueRate = cmp.vsUws.filter((e) => e.rate >= 1500).sort((a, b) => a.rate - b.rate)[0];
      if (atIssueRate) out.push(`| … at ${atIssueRate.rate} msg/s (issue 16: fan-out at 1500 msg/s × 1000) | ${f(atIssueRate.cpuRatio)}× | ${pass(atIssueRate.cpuRatio >= 0.8)} |`);
    }
    out.push(`| ${o.latSubscribers} subscribers at ${o.latRate} msg/s: p99 < 2 ms | ${f(cmp.latencyP99, 3)} ms | ${pass(t(cmp.latencyP99, (v) => v < 2))} |`);
    out.push(`| ≤ 10 KB RSS per idle connection | ${f(cmp.idleKbPerConnection)} KB | ${pass(t(cmp.idleKbPerConnection, (v) => v <= 10))} |`);
    out.push('');
    if (cmp.equalLoad.length) {
      out.push(`Equal offered load, tickhub / ceiling at every rate both sustained (${cmp.equalLoadSource === 'paired' ? 'paired trials' : 'sweep steps'}):`, '');
      out.push('| msg/s | deliveries/CPU-s ratio | p99 ratio |', '|---|---|---|');
      for (const e of cmp.equalLoad) out.push(`| ${e.rate} | ${f(e.cpuRatio)} | ${f(e.p99Ratio)} |`);
      out.push(`| median | ${f(median(cmp.equalLoad.map((e) => e.cpuRatio)))} | ${f(median(cmp.equalLoad.map((e) => e.p99Ratio)))} |`, '');
    }
  }

  if (r.ingest) out.push('## Ingest', '', ok(r.ingest) ? renderIngest(ok(r.ingest)!) : `error: ${(r.ingest as { error: string }).error}`, '');

  if (r.topics) out.push('## Many topics', '', ok(r.topics) ? renderManyTopics(ok(r.topics)!) : `error: ${(r.topics as { error: string }).error}`, '');

  const stormOk = r.storm && 'clients' in r.storm ? (r.storm as StormResult) : null;
  const targets = renderScenarioTargets({ ingest: ok(r.ingest), topics: ok(r.topics), storm: stormOk, idleScale: ok(r.idleScale) });
  if (r.storm) {
    const st = r.storm as StormResult & { skipped?: string };
    out.push('## Reconnect storm', '', st.skipped ? `skipped: ${st.skipped}` : 'clients' in st ? renderStorm(st) : `error: ${(st as { error?: string }).error}`, '');
  }
  if (r.idleScale) out.push('## Idle memory at scale', '', ok(r.idleScale) ? renderIdleScale(ok(r.idleScale)!) : `error: ${(r.idleScale as { error: string }).error}`, '');

  if (targets) out.push(targets);

  if (!o.phases.includes('sweep')) return out.join('\n');
  out.push('## Every sweep step', '');
  out.push('| server | msg/s | sustained | deliveries/s (M) | server CPU | M deliveries / CPU-s | p50 ms | p99 ms | max ms | lost | peak RSS MB | loadgen CPU | other programs (cores) | notes |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of r.servers) {
    const sw = ok(s.sweep);
    if (sw) for (const step of sw.steps) out.push(stepRow(s.name, step));
  }
  out.push('');
  return out.join('\n');
}

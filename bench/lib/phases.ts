/**
 * The three measurements run against each server, each on a freshly started server process:
 * a publish-rate sweep at many subscribers, a low-rate latency test, and an idle-connection
 * memory test.
 */
import { sleep } from './clock.ts';
import type { BenchOptions } from './cli.ts';
import type { LoadgenPool, PoolConnectResult } from './loadgen-pool.ts';
import { measureStep, waitQuiet, type StepResult, type StepSpec } from './measure.ts';
import { memory } from './procstat.ts';
import { ServerProcess } from './server-proc.ts';
import { idlePhaseAddress } from './source-addresses.ts';
import { median } from './stats.ts';
import type { ServerDef } from './targets.ts';

/** Where a phase runs. */
export interface PhaseContext {
  def: ServerDef;
  opts: BenchOptions;
  pool: LoadgenPool;
  root: string;
  logFile: string;
  log: (line: string) => void;
}

/** Waits (bounded) for other programs on the machine to go quiet before a measurement. */
async function quiet(ctx: PhaseContext, server: ServerProcess): Promise<void> {
  const { opts } = ctx;
  if (opts.quietWaitMs <= 0) return;
  const cores = await waitQuiet(() => [server.pid, process.pid, ...ctx.pool.pids], opts.quietCores, opts.quietWaitMs);
  if (cores > opts.quietCores) ctx.log(`  (other programs still use ${cores.toFixed(2)} cores; measuring anyway)`);
}

export interface SweepResult {
  subscribers: number;
  connect: PoolConnectResult;
  steps: StepResult[];
  /** Highest rate (msg/s) with a sustained step, and its measured deliveries/s. */
  maxSustainedRate: number | null;
  maxSustainedDeliveriesPerSec: number | null;
  /** True if even the highest rate tried was sustained (the server did not saturate). */
  unsaturated: boolean;
  serverPeakRss: number;
  error?: string;
}

export interface LatencyResult {
  subscribers: number;
  rate: number;
  trials: StepResult[];
  /** Medians over trials (ms). */
  p50: number;
  p99: number;
  max: number;
  lost: number;
  error?: string;
}

export interface IdleResult {
  connections: number;
  opened: number;
  failed: number;
  firstError: string | null;
  connectMs: number;
  rssBefore: number;
  rssAfter: number;
  bytesPerConnection: number;
  /** One message published after measuring: how many of the idle connections received it. */
  aliveReceived: number;
  error?: string;
}

function stepSpec(opts: BenchOptions, rate: number, durationMs: number): StepSpec {
  return { rate, durationMs, sampleTarget: opts.sampleTarget, p99LimitMs: opts.p99LimitMs, keepUpRatio: opts.keepUpRatio };
}

function describe(s: StepResult): string {
  const mark = s.sustained ? 'ok  ' : 'FAIL';
  const lg = s.loadgenCores.map((c) => `${(c * 100).toFixed(0)}%`).join('/');
  return (
    `${mark} ${String(s.rate).padStart(6)} msg/s  delivered ${(s.deliveredPerSec / 1e6).toFixed(3)} M/s  ` +
    `cpu ${(s.serverCores * 100).toFixed(0)}%  ${(s.deliveriesPerCpuSec / 1e6).toFixed(2)} M/cpu-s  ` +
    `p50 ${s.latency.p50.toFixed(2)} p99 ${s.latency.p99.toFixed(2)} max ${s.latency.max.toFixed(1)} ms  ` +
    `lost ${s.lost}  rss ${(s.serverPeakRss / 2 ** 20).toFixed(0)} MB  loadgen ${lg}${s.loadgenBound ? ' (BOUND)' : ''}  others ${s.foreignCores.toFixed(2)} cores` +
    (s.failReasons.length ? `  [${s.failReasons.join('; ')}]` : '')
  );
}

async function withServer<T>(ctx: PhaseContext, fn: (server: ServerProcess) => Promise<T>): Promise<T> {
  const server = await ServerProcess.start(ctx.def, ctx.root, ctx.logFile);
  try {
    return await fn(server);
  } finally {
    await ctx.pool.disconnect().catch(() => undefined);
    await server.stop();
  }
}

async function connectOrThrow(ctx: PhaseContext, server: ServerProcess, n: number, concurrency = 100): Promise<PoolConnectResult> {
  const c = await ctx.pool.connect(ctx.def.sub(server.port), ctx.def.pub(server.port), n, concurrency);
  if (c.failed > 0) throw new Error(`${c.failed} of ${n} connections failed: ${c.firstError}`);
  return c;
}

/**
 * Sweeps the publish rate upwards until a step is not sustained (retried once to rule out a
 * hiccup), then bisects between the last good and first bad rate. After a failed step the server
 * is restarted: an overloaded server still holds unread publishes and unsent frames that would
 * otherwise leak into the next step.
 */
export async function runSweep(ctx: PhaseContext): Promise<SweepResult> {
  const { opts, log } = ctx;
  const n = opts.subscribers;
  const steps: StepResult[] = [];
  let peakRss = 0;
  let server: ServerProcess | null = null;
  let connect: PoolConnectResult | null = null;
  let died: string | null = null;

  const stopServer = async (): Promise<void> => {
    if (!server) return;
    await ctx.pool.disconnect().catch(() => undefined);
    if (server.alive) peakRss = Math.max(peakRss, memory(server.pid).hwm);
    else died ??= `server ${server.exitInfo} during the sweep; see ${ctx.logFile}`;
    await server.stop();
    server = null;
  };
  const startServer = async (): Promise<ServerProcess> => {
    await stopServer();
    const s = await ServerProcess.start(ctx.def, ctx.root, ctx.logFile);
    server = s;
    connect = await connectOrThrow(ctx, s, n);
    log(`  (server pid ${s.pid}) ${n} subscribers connected in ${connect.ms.toFixed(0)} ms`);
    // Warm-up (JIT, buffers, subscriptions settling), not recorded.
    await measureStep(s, ctx.pool, n, stepSpec(opts, opts.rates[0], 1000));
    return s;
  };
  const measure = async (srv: ServerProcess, rate: number, note = ''): Promise<StepResult> => {
    await quiet(ctx, srv);
    const s = await measureStep(srv, ctx.pool, n, stepSpec(opts, rate, opts.stepMs));
    steps.push(s);
    log(`  ${describe(s)}${note}`);
    return s;
  };
  /** Measures `rate`; a failure is retried on a restarted server (`retries` times). */
  const attempt = async (rate: number): Promise<StepResult> => {
    let s = await measure(server ?? (await startServer()), rate);
    for (let i = 0; i < opts.retries && !s.sustained; i++) s = await measure(await startServer(), rate, ' (retry)');
    if (!s.sustained) await startServer();
    await sleep(300);
    return s;
  };

  try {
    // Upwards until `stopAfter` consecutive rates fail: on a shared 2-core machine one bad step
    // can be noise, and at low rates latency is not monotonic in the rate (batching grows with load).
    let good: StepResult | null = null;
    let badRate: number | null = null;
    let failedInARow = 0;
    for (const rate of opts.rates) {
      const s = await attempt(rate);
      if (s.sustained) {
        good = s;
        badRate = null;
        failedInARow = 0;
      } else {
        badRate ??= rate;
        if (++failedInARow >= opts.stopAfter) break;
      }
    }
    if (badRate !== null) {
      let lo = good?.rate ?? 0;
      let hi = badRate;
      for (let i = 0; i < opts.refine && hi - lo > Math.max(10, lo * 0.05); i++) {
        const mid = roundRate(lo > 0 ? Math.sqrt(lo * hi) : hi / 2);
        if (mid <= lo || mid >= hi) break;
        const s = await attempt(mid);
        if (s.sustained) {
          lo = mid;
          if (!good || mid > good.rate) good = s;
        } else hi = mid;
      }
    }
    await stopServer();
    return {
      subscribers: n,
      connect: connect!,
      steps,
      maxSustainedRate: good?.rate ?? null,
      maxSustainedDeliveriesPerSec: good?.deliveredPerSec ?? null,
      unsaturated: badRate === null,
      serverPeakRss: peakRss,
      ...(died ? { error: died } : {}),
    };
  } finally {
    await stopServer();
  }
}

/** Rounds a bisection midpoint to 2 significant digits (e.g. 2263 -> 2300). */
function roundRate(x: number): number {
  const unit = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 1);
  return Math.round(x / unit) * unit;
}

/** Few subscribers at a low rate: the latency floor. Median over trials. */
export async function runLatency(ctx: PhaseContext): Promise<LatencyResult> {
  const { opts, log } = ctx;
  return withServer(ctx, async (server) => {
    await connectOrThrow(ctx, server, opts.latSubscribers);
    await measureStep(server, ctx.pool, opts.latSubscribers, stepSpec(opts, opts.latRate, 1000));
    const trials: StepResult[] = [];
    for (let i = 0; i < opts.latTrials; i++) {
      await quiet(ctx, server);
      const s = await measureStep(server, ctx.pool, opts.latSubscribers, stepSpec(opts, opts.latRate, opts.latMs));
      trials.push(s);
      log(`  ${describe(s)}`);
    }
    return {
      subscribers: opts.latSubscribers,
      rate: opts.latRate,
      trials,
      p50: median(trials.map((t) => t.latency.p50)),
      p99: median(trials.map((t) => t.latency.p99)),
      max: median(trials.map((t) => t.latency.max)),
      lost: trials.reduce((a, t) => a + t.lost, 0),
    };
  });
}

export function averageRss(pid: number, samples: number, everyMs: number): Promise<number> {
  return (async () => {
    let sum = 0;
    for (let i = 0; i < samples; i++) {
      sum += memory(pid).rss;
      await sleep(everyMs);
    }
    return sum / samples;
  })();
}

/** Opens many idle subscribers and reports the server's RSS growth per connection. */
export async function runIdle(ctx: PhaseContext): Promise<IdleResult> {
  const { opts, log } = ctx;
  const n = opts.idleConnections;
  return withServer(ctx, async (server) => {
    await sleep(1500);
    const rssBefore = await averageRss(server.pid, 5, 100);
    const c = await ctx.pool.connect({ ...ctx.def.sub(server.port), localAddresses: [idlePhaseAddress(ctx.def.name)] }, ctx.def.pub(server.port), n, 250);
    log(`  ${c.opened} connections opened in ${c.ms.toFixed(0)} ms${c.failed ? `, ${c.failed} failed: ${c.firstError}` : ''}`);
    await sleep(opts.quick ? 2000 : 3000);
    const rssAfter = await averageRss(server.pid, 5, 100);
    const alive = await measureStep(server, ctx.pool, n, stepSpec(opts, 10, 100));
    const result: IdleResult = {
      connections: n,
      opened: c.opened,
      failed: c.failed,
      firstError: c.firstError,
      connectMs: c.ms,
      rssBefore,
      rssAfter,
      bytesPerConnection: (rssAfter - rssBefore) / Math.max(1, c.opened),
      aliveReceived: alive.received,
    };
    log(
      `  RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MB: ` +
        `${(result.bytesPerConnection / 1024).toFixed(2)} KB/connection; alive check ${alive.received}/${c.opened * alive.sent}`,
    );
    return result;
  });
}

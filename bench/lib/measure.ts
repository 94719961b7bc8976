/**
 * One measured step against a running server: server CPU (/proc) and peak RSS are sampled around
 * a load-generator step, and the merged numbers are judged against the "sustained" criteria.
 */
import { Histogram, type LatencySummary } from './histogram.ts';
import type { LoadgenPool } from './loadgen-pool.ts';
import { cpuSeconds, ForeignLoad, RssSampler } from './procstat.ts';
import { sleep } from './clock.ts';
import type { ServerProcess } from './server-proc.ts';

/** Parameters of one step. */
export interface StepSpec {
  rate: number;
  durationMs: number;
  /** Aim for about this many latency samples per step (sets the 1-in-K sampling). */
  sampleTarget: number;
  /** A step with p99 above this is not "sustained". */
  p99LimitMs: number;
  /** Delivery must reach this fraction of the offered deliveries/s to count as keeping up. */
  keepUpRatio: number;
  /** A subscription mix: what each subscriber should get of `sent` messages (default: all of them). */
  expectedPer?: (sent: number) => number[];
  /** The publisher's form is acknowledged: every message must be acked by the end of the step. */
  acked?: boolean;
}

/** Everything reported for one step. */
export interface StepResult {
  rate: number;
  subscribers: number;
  durationMs: number;
  /** Messages published and the publish rate actually achieved. */
  sent: number;
  achievedRate: number;
  offeredDeliveriesPerSec: number;
  /** Publish requests (frames or HTTP requests) that carried the messages. */
  requests: number;
  /** Messages published per server CPU-second (the ingest measure). */
  messagesPerCpuSec: number;
  /** Messages acknowledged to the publisher (acked forms). */
  acks: number;
  received: number;
  /** Deliveries / (last receive - first publish). */
  deliveredPerSec: number;
  lost: number;
  extra: number;
  closed: number;
  closeCodes: Record<string, number>;
  drainEndedBy: string;
  serverCpuSec: number;
  /** Server CPU time / wall time of the step (1.0 = one full core). */
  serverCores: number;
  deliveriesPerCpuSec: number;
  latency: LatencySummary;
  serverPeakRss: number;
  /** Per load-generator process: CPU share of one core and worst event-loop delay. */
  loadgenCores: number[];
  loadgenLoopDelayMaxMs: number;
  loadgenBound: boolean;
  /** CPU used meanwhile by other programs on the machine, in cores (noise). */
  foreignCores: number;
  pubErrors: number;
  pubFirstError: string | null;
  unparsable: number;
  sustained: boolean;
  failReasons: string[];
}

/** A load generator above this share of one core is considered the bottleneck. */
export const LOADGEN_BUSY = 0.9;

function safeCpu(pid: number): number {
  try {
    return cpuSeconds(pid);
  } catch {
    return NaN; // the server died
  }
}

/**
 * Waits until other programs use less than `maxCores` for a 500 ms window, at most `timeoutMs`.
 * Returns the last measured foreign load (cores).
 */
export async function waitQuiet(ours: () => number[], maxCores: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const f = new ForeignLoad(ours);
    f.start();
    await sleep(500);
    const cores = f.cores();
    if (cores <= maxCores || performance.now() > deadline) return cores;
  }
}

/** Runs one step and computes the result. */
export async function measureStep(server: ServerProcess, pool: LoadgenPool, subscribers: number, spec: StepSpec): Promise<StepResult> {
  const plannedMessages = Math.max(1, Math.round((spec.rate * spec.durationMs) / 1000));
  const expectedDeliveries = spec.expectedPer ? spec.expectedPer(plannedMessages).reduce((a, b) => a + b, 0) : plannedMessages * subscribers;
  const sampleEvery = Math.max(1, Math.round(expectedDeliveries / spec.sampleTarget));
  const foreign = new ForeignLoad(() => [server.pid, process.pid, ...pool.pids]);
  foreign.start();
  const rss = new RssSampler(server.pid, 50);
  rss.start();
  const cpu0 = safeCpu(server.pid);
  const wall0 = performance.now();
  const idleMs = 2000;
  const maxDrainMs = Math.max(5000, spec.durationMs * 2);
  const raw = await pool.step(spec.rate, spec.durationMs, sampleEvery, idleMs, maxDrainMs, spec.expectedPer);
  // Acks of the last messages may trail the last delivery a little.
  for (let i = 0; spec.acked && i < 20 && (raw.pubReplies?.acks ?? 0) + (raw.pubReplies?.errors ?? 0) < raw.publish.sent; i++) {
    await sleep(50);
    raw.pubReplies = await pool.replies();
  }
  const lastAt = Math.max(...raw.drains.map((d) => d.lastAt));
  const wallSec = (performance.now() - wall0) / 1000;
  const cpuSec = safeCpu(server.pid) - cpu0;
  const peakRss = rss.stop();
  const foreignCores = foreign.cores();

  const { publish } = raw;
  const pubSec = (publish.endAt - publish.startAt) / 1000 + 1 / spec.rate;
  const achievedRate = publish.sent / pubSec;
  const sum = (f: (d: (typeof raw.drains)[number]) => number): number => raw.drains.reduce((a, d) => a + f(d), 0);
  const received = sum((d) => d.received);
  const lost = sum((d) => d.lost);
  const closed = sum((d) => d.closed);
  const closeCodes: Record<string, number> = {};
  for (const d of raw.drains) for (const [k, v] of Object.entries(d.closeCodes)) closeCodes[k] = (closeCodes[k] ?? 0) + v;
  const hist = new Histogram();
  for (const d of raw.drains) hist.merge(d.latency);
  const latency = hist.summary();
  const expectedTotal = spec.expectedPer ? spec.expectedPer(publish.sent).reduce((a, b) => a + b, 0) : publish.sent * subscribers;
  const offeredDeliveriesPerSec = expectedTotal / pubSec;
  const deliveredPerSec = lastAt > publish.startAt ? received / ((lastAt - publish.startAt) / 1000) : 0;
  // CPU share of one core while there was work (a drain that ends by idling adds idle wall time).
  const busyEnd = Math.max(lastAt, publish.endAt);
  const loadgenCores = raw.drains.map((d) => d.cpuSec / Math.max(0.05, Math.min(d.wallSec, (busyEnd - d.armedAt) / 1000)));
  const loadgenBusy = Math.max(...loadgenCores);
  const loadgenLoopDelayMaxMs = Math.max(...raw.drains.map((d) => d.loopDelayMaxMs));
  const endedBy = raw.drains.some((d) => d.endedBy === 'timeout') ? 'timeout' : raw.drains.some((d) => d.endedBy === 'idle') ? 'idle' : 'complete';

  const failReasons: string[] = [];
  if (!server.alive) failReasons.push(`server ${server.exitInfo}`);
  if (lost > 0) failReasons.push(endedBy === 'timeout' ? `backlog: ${lost} undelivered after drain timeout` : `lost ${lost} (nothing arrived for ${idleMs / 1000} s)`);
  if (closed > 0) failReasons.push(`${closed} subscribers closed ${JSON.stringify(closeCodes)}`);
  if (achievedRate < spec.rate * 0.95) failReasons.push(`publisher reached only ${achievedRate.toFixed(0)} msg/s`);
  if (deliveredPerSec < offeredDeliveriesPerSec * spec.keepUpRatio)
    failReasons.push(`delivered ${(deliveredPerSec / offeredDeliveriesPerSec * 100).toFixed(0)}% of offered`);
  if (!(latency.p99 <= spec.p99LimitMs)) failReasons.push(`p99 ${latency.p99.toFixed(1)} ms > ${spec.p99LimitMs} ms`);
  const pubErrors = raw.pubReplies?.errors ?? 0;
  if (pubErrors > 0) failReasons.push(`${pubErrors} publish errors`);
  const acks = raw.pubReplies?.acks ?? 0;
  if (spec.acked && acks + pubErrors < publish.sent) failReasons.push(`${publish.sent - acks - pubErrors} messages never acknowledged`);

  return {
    rate: spec.rate,
    subscribers,
    durationMs: spec.durationMs,
    sent: publish.sent,
    achievedRate,
    offeredDeliveriesPerSec,
    requests: publish.requests,
    messagesPerCpuSec: publish.sent / cpuSec,
    acks,
    received,
    deliveredPerSec,
    lost,
    extra: sum((d) => d.extra),
    closed,
    closeCodes,
    drainEndedBy: endedBy,
    serverCpuSec: cpuSec,
    serverCores: cpuSec / wallSec,
    deliveriesPerCpuSec: received / cpuSec,
    latency,
    serverPeakRss: peakRss,
    loadgenCores,
    loadgenLoopDelayMaxMs,
    loadgenBound: loadgenBusy > LOADGEN_BUSY,
    foreignCores,
    pubErrors,
    pubFirstError: raw.pubReplies?.firstError ?? publish.firstError,
    unparsable: sum((d) => d.unparsable),
    sustained: failReasons.length === 0,
    failReasons,
  };
}

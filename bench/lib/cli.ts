/** Command-line options of `npm run bench` (see bench/README.md). */
import { DEFAULT_HTTP_SOCKETS } from './publisher.ts';
import { parsePayload } from './payload.ts';
import { ALL_SERVERS, type IngestForm, type ServerName } from './targets.ts';

export type Phase = 'sweep' | 'compare' | 'latency' | 'idle' | 'ingest' | 'topics' | 'storm' | 'idlescale';

export const ALL_PHASES: readonly Phase[] = ['sweep', 'compare', 'latency', 'idle', 'ingest', 'topics', 'storm', 'idlescale'];

export interface BenchOptions {
  quick: boolean;
  servers: ServerName[];
  phases: Phase[];
  /** Subscribers for the sweep. */
  subscribers: number;
  /** Publish rates (msg/s) to sweep, ascending; the sweep stops at the first rate not sustained. */
  rates: number[];
  /** Re-runs of a failed sweep step (on a restarted server) before calling it saturated. */
  retries: number;
  /** The sweep stops after this many consecutive rates that are not sustained. */
  stopAfter: number;
  /** Before each measurement, wait up to `quietWaitMs` for other programs to use < `quietCores`. */
  quietCores: number;
  quietWaitMs: number;
  /** Bisection rounds between the last sustained and the first failed rate. */
  refine: number;
  stepMs: number;
  /** Equal-load comparison of tickhub and the ceiling: candidate rates and alternating trials. */
  compareRates: number[];
  compareTrials: number;
  /** Latency test: subscribers, rate, duration and trials (median reported). */
  latSubscribers: number;
  latRate: number;
  latMs: number;
  latTrials: number;
  /** Idle-connection memory test size. */
  idleConnections: number;
  /** Load-generator processes for the sweep. */
  loadgens: number;
  p99LimitMs: number;
  keepUpRatio: number;
  sampleTarget: number;
  /** Ingest: publish rates to climb, publisher connection counts, messages per batch request. */
  ingestRates: number[];
  ingestPublishers: number[];
  ingestBatch: number;
  /** Ingest forms to run where a server has them (default all: single, batch, http, http-batch). */
  ingestForms: IngestForm[];
  /** Keep-alive sockets per HTTP publisher (each carries one request at a time). */
  ingestHttpSockets: number;
  /** Many topics: topic count, subscribers, rates, and the publisher form where a server has it. */
  topicsCount: number;
  topicsSubscribers: number;
  topicsRates: number[];
  topicsForm: 'single' | 'batch';
  /** Idle memory at scale: connections and the load-generator processes that hold them. */
  idleScale: number;
  idleScaleLoadgens: number;
  /** Reconnect storm: clients, their load generators, the client's backoff, and how long to wait for all. */
  stormSubscribers: number;
  stormLoadgens: number;
  stormMinBackoffMs: number;
  stormMaxBackoffMs: number;
  stormTimeoutMs: number;
  /** The `data` shape (payload.ts); the runner hands it to the load generators as BENCH_PAYLOAD. */
  payload: 'default' | 'ticks';
}

/** Doubling from 25 msg/s (naive and Socket.IO saturate around 100), then finer where fast servers saturate. */
const FULL_RATES = [25, 50, 100, 200, 400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 4000, 5000, 6400, 8000, 10000, 12800, 16000];
const QUICK_RATES = [50, 200, 800, 1600, 2400, 3200, 4800, 6400, 9600, 12800];

/** Parses `--key=value` / `--flag` arguments. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const args = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}`);
    args.set(m[1], m[2] ?? 'true');
  }
  const quick = args.get('quick') === 'true';
  const num = (key: string, full: number, q: number): number => {
    const v = args.get(key);
    if (v === undefined) return quick ? q : full;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${key} needs a number`);
    return n;
  };
  const list = (key: string): string[] | undefined => args.get(key)?.split(',').map((s) => s.trim()).filter(Boolean);

  const servers = (list('servers') ?? [...ALL_SERVERS]) as ServerName[];
  for (const s of servers) if (!ALL_SERVERS.includes(s)) throw new Error(`unknown server ${s} (have ${ALL_SERVERS.join(', ')})`);
  const phases = (list('phases') ?? [...ALL_PHASES]) as Phase[];
  for (const p of phases) if (!ALL_PHASES.includes(p)) throw new Error(`unknown phase ${p} (have ${ALL_PHASES.join(', ')})`);
  const numbers = (key: string, full: number[], q: number[]): number[] => {
    const v = list(key)?.map(Number) ?? (quick ? q : full);
    if (v.some((x) => !(x > 0))) throw new Error(`--${key} must be positive numbers`);
    return [...v].sort((a, b) => a - b);
  };
  const compareRates = list('compare-rates')?.map(Number) ?? (quick ? [100, 1600] : [50, 100, 800, 1600]);
  if (compareRates.some((r) => !(r > 0))) throw new Error('--compare-rates must be positive numbers');
  const rates = list('rates')?.map(Number) ?? (quick ? QUICK_RATES : FULL_RATES);
  if (rates.some((r) => !(r > 0))) throw new Error('--rates must be positive numbers');

  const known = new Set([
    'quick', 'servers', 'phases', 'subs', 'rates', 'retries', 'stop-after', 'quiet-cores', 'quiet-wait-ms', 'refine', 'step-ms', 'compare-rates', 'compare-trials', 'lat-subs', 'lat-rate', 'lat-ms', 'lat-trials',
    'idle', 'loadgens', 'p99-limit', 'keep-up', 'samples', 'ingest-rates', 'ingest-pubs', 'ingest-batch', 'ingest-forms', 'ingest-http-sockets', 'topics', 'topics-subs', 'topics-rates', 'topics-form', 'idle-scale', 'idle-scale-loadgens', 'storm-subs', 'storm-loadgens', 'storm-min-backoff', 'storm-max-backoff', 'storm-timeout-ms', 'payload',
  ]);
  for (const k of args.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}`);

  return {
    quick,
    servers: ALL_SERVERS.filter((s) => servers.includes(s)),
    phases,
    subscribers: num('subs', 1000, 1000),
    rates: [...rates].sort((a, b) => a - b),
    retries: num('retries', 1, 0),
    stopAfter: num('stop-after', 2, 1),
    quietCores: num('quiet-cores', 0.25, 0.25),
    quietWaitMs: num('quiet-wait-ms', 20_000, 2_000),
    refine: num('refine', 2, 0),
    stepMs: num('step-ms', 3000, 2000),
    compareRates: [...compareRates].sort((a, b) => a - b),
    compareTrials: num('compare-trials', 3, 1),
    latSubscribers: num('lat-subs', 10, 10),
    latRate: num('lat-rate', 100, 100),
    latMs: num('lat-ms', 5000, 3000),
    latTrials: num('lat-trials', 3, 1),
    idleConnections: num('idle', 10000, 10000),
    loadgens: num('loadgens', 1, 1),
    p99LimitMs: num('p99-limit', 100, 100),
    keepUpRatio: num('keep-up', 0.95, 0.95),
    sampleTarget: num('samples', 200_000, 100_000),
    ingestRates: numbers('ingest-rates', [5000, 10000, 20000, 40000, 80000, 160000], [10000, 40000, 100000]),
    ingestPublishers: numbers('ingest-pubs', [1, 4], [1, 4]),
    ingestBatch: num('ingest-batch', 100, 100),
    ingestForms: ingestForms(list('ingest-forms')),
    ingestHttpSockets: num('ingest-http-sockets', DEFAULT_HTTP_SOCKETS, DEFAULT_HTTP_SOCKETS),
    topicsCount: num('topics', 1000, 1000),
    topicsSubscribers: num('topics-subs', 1000, 1000),
    topicsRates: numbers('topics-rates', [2500, 10000], [10000]),
    topicsForm: args.get('topics-form') === 'single' ? 'single' : 'batch',
    idleScale: num('idle-scale', 100_000, 100_000),
    idleScaleLoadgens: num('idle-scale-loadgens', 4, 4),
    stormSubscribers: num('storm-subs', 10_000, 10_000),
    stormLoadgens: num('storm-loadgens', 2, 2),
    stormMinBackoffMs: num('storm-min-backoff', 250, 250),
    stormMaxBackoffMs: num('storm-max-backoff', 10_000, 10_000),
    stormTimeoutMs: num('storm-timeout-ms', 120_000, 60_000),
    payload: parsePayload(args.get('payload') ?? process.env.BENCH_PAYLOAD),
  };
}

const INGEST_FORMS: readonly IngestForm[] = ['single', 'batch', 'http', 'http-batch'];

/** `--ingest-forms=single,batch`: a subset of the ingest forms (paired runs of one form go faster). */
function ingestForms(listed: string[] | undefined): IngestForm[] {
  if (listed === undefined) return [...INGEST_FORMS];
  for (const f of listed) if (!INGEST_FORMS.includes(f as IngestForm)) throw new Error(`unknown ingest form ${f} (have ${INGEST_FORMS.join(', ')})`);
  return INGEST_FORMS.filter((f) => listed.includes(f));
}

/**
 * Reconnect storm: N tickhub clients (client/hub-client.ts, backoff with jitter, resuming with
 * since/epoch) subscribe to one topic of a hub on Redis (so history and the epoch outlive the
 * process). Messages are published, the hub is killed (-9) and started again on the same port,
 * more messages are published as soon as it listens, and every client must end with every
 * message exactly once. Measured: time from the restart (listening again) until every client
 * has caught up, completed handshakes per second at the peak, lost and duplicated messages
 * (both must be 0), and the new hub's peak RSS. Beside it, the time the ceiling takes to accept
 * N WebSocket handshakes opened at once.
 */
import { existsSync } from 'node:fs';
import { TestRedis, redisServerPath } from '../../test/support/redis-server.ts';
import { sleep, nowMs } from './clock.ts';
import type { BenchOptions } from './cli.ts';
import { LoadgenPool } from './loadgen-pool.ts';
import { RssSampler } from './procstat.ts';
import { ServerProcess } from './server-proc.ts';
import type { StormStats } from './storm-clients.ts';
import { HOST, PUBLISH_KEY, type ServerDef, type ServerName } from './targets.ts';

const TOPIC = 'storm.t';

export interface StormResult {
  clients: number;
  /** Messages published before the kill and after the restart. */
  before: number;
  after: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Kill to listening again (process start-up). */
  downMs: number;
  /** Listening again until every client had every message. */
  resumeMs: number | null;
  /**
   * Listening again until the last client made its first attempt after that: the part of
   * resumeMs its backoff spent waiting (no hub could be faster). Null if one never tried.
   */
  backoffFloorMs: number | null;
  caughtUp: number;
  peakHandshakesPerSec: number;
  lost: number;
  duplicated: number;
  /** Messages every client should have minus what they got (a client that never caught up). */
  missing: number;
  hubPeakRss: number;
  /** Times a client's live transport became the SSE fallback (0 for WebSocket-only clients). */
  sseSwitches: number;
  /** The ceiling: N handshakes opened at once, until all were accepted. */
  ceilingAcceptMs: number | null;
  /** Half-second steps from the listen: attempts begun, handshakes completed, clients caught up (cumulative). */
  timeline: StormStep[];
  error?: string;
}

export interface StormStep {
  /** Start of the step, ms after the hub listened. */
  atMs: number;
  attempts: number;
  handshakes: number;
  caughtUp: number;
}

const STEP_MS = 500;

/**
 * The storm's course in STEP_MS steps from `fromMs` (ms after the buckets' start), until the
 * last step that saw anything: where the time between the listen and the last resume went.
 */
export function timeline(t: Pick<StormStats, 'attemptBuckets' | 'welcomeBuckets' | 'caughtUpBuckets'>, fromMs: number): StormStep[] {
  const per = STEP_MS / 100;
  const first = Math.floor(fromMs / 100);
  const len = Math.max(t.attemptBuckets.length, t.welcomeBuckets.length, t.caughtUpBuckets.length);
  const steps: StormStep[] = [];
  let caughtUp = t.caughtUpBuckets.slice(0, first).reduce((a, b) => a + b, 0);
  for (let b = first; b < len; b += per) {
    const sum = (xs: number[]) => xs.slice(b, b + per).reduce((a, x) => a + (x ?? 0), 0);
    caughtUp += sum(t.caughtUpBuckets);
    steps.push({ atMs: (b - first) * 100, attempts: sum(t.attemptBuckets), handshakes: sum(t.welcomeBuckets), caughtUp });
  }
  return steps;
}

const addBuckets = (into: number[], from: number[]): void => from.forEach((n, i) => (into[i] = (into[i] ?? 0) + n));

function total(stats: StormStats[]): StormStats {
  const t: StormStats = { clients: 0, open: 0, caughtUp: 0, allCaughtUpAt: 0, received: 0, lost: 0, duplicated: 0, welcomeBuckets: [], attemptBuckets: [], caughtUpBuckets: [], onSse: 0, sseSwitches: 0, lastFirstAttemptAt: 0 };
  for (const s of stats) {
    t.lastFirstAttemptAt = s.lastFirstAttemptAt && t.lastFirstAttemptAt !== -1 ? Math.max(t.lastFirstAttemptAt, s.lastFirstAttemptAt) : -1;
    t.clients += s.clients;
    t.open += s.open;
    t.caughtUp += s.caughtUp;
    t.allCaughtUpAt = s.allCaughtUpAt && t.allCaughtUpAt !== -1 ? Math.max(t.allCaughtUpAt, s.allCaughtUpAt) : -1;
    t.received += s.received;
    t.lost += s.lost;
    t.duplicated += s.duplicated;
    t.onSse += s.onSse;
    t.sseSwitches += s.sseSwitches;
    addBuckets(t.welcomeBuckets, s.welcomeBuckets);
    addBuckets(t.attemptBuckets, s.attemptBuckets);
    addBuckets(t.caughtUpBuckets, s.caughtUpBuckets);
  }
  if (t.allCaughtUpAt === -1) t.allCaughtUpAt = 0;
  if (t.lastFirstAttemptAt === -1) t.lastFirstAttemptAt = 0;
  return t;
}

async function publish(port: number, n: number): Promise<number> {
  let seq = 0;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://${HOST}:${port}/api/publish/${TOPIC}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PUBLISH_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ i }),
    });
    if (res.status !== 200) throw new Error(`publish ${res.status}: ${await res.text()}`);
    seq = ((await res.json()) as { seq: number }).seq;
  }
  return seq;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  while (!(await check())) {
    if (nowMs() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(50);
  }
}

/** Why the storm cannot run here, or null. */
export function stormUnavailable(): string | null {
  try {
    return existsSync(redisServerPath()) ? null : 'redis-server not found';
  } catch (err) {
    return (err as Error).message;
  }
}

export async function runStorm(tickhub: ServerDef, ceiling: ServerDef | null, opts: BenchOptions, root: string, logFile: (n: ServerName) => string, log: (line: string) => void): Promise<StormResult> {
  const n = opts.stormSubscribers;
  const before = 20;
  const after = 20;
  const { stormMinBackoffMs: minBackoffMs, stormMaxBackoffMs: maxBackoffMs } = opts;
  const redis = await TestRedis.start();
  const pool = LoadgenPool.start(opts.stormLoadgens, root);
  const env = { REDIS_URL: redis.url, DRAIN_MS: '0' };
  let hub: ServerProcess | null = null;
  const result: StormResult = { clients: n, before, after, minBackoffMs, maxBackoffMs, downMs: 0, resumeMs: null, backoffFloorMs: null, caughtUp: 0, peakHandshakesPerSec: 0, lost: 0, duplicated: 0, missing: 0, hubPeakRss: 0, sseSwitches: 0, ceilingAcceptMs: null, timeline: [] };
  try {
    hub = await ServerProcess.start(tickhub, root, logFile('tickhub'), { env, startTimeoutMs: 120_000 });
    const port = hub.port;
    const url = `ws://${HOST}:${port}/ws`;
    await pool.storm({ type: 'storm-open', spec: { url, topic: TOPIC, count: n, minBackoffMs, maxBackoffMs } });
    await until(`${n} clients open`, 120_000, async () => total(await pool.storm({ type: 'storm-stats', since: nowMs() })).open === n);
    await sleep(500); // their subs are answered
    const seqBefore = await publish(port, before);
    await pool.storm({ type: 'storm-want', seq: seqBefore });
    await until(`all clients at seq ${seqBefore}`, 60_000, async () => total(await pool.storm({ type: 'storm-stats', since: nowMs() })).caughtUp === n);
    const atKill = total(await pool.storm({ type: 'storm-stats', since: nowMs() }));
    // Clients whose first WebSocket took longer than openTimeoutMs start on SSE, as on a network that blocks upgrades.
    log(`  ${n} clients subscribed and at seq ${seqBefore} (${atKill.onSse} of them on SSE); killing the hub`);

    const killedAt = nowMs();
    await hub.kill();
    hub = await ServerProcess.start(tickhub, root, logFile('tickhub'), { env, port, startTimeoutMs: 120_000 });
    const listeningAt = nowMs();
    result.downMs = listeningAt - killedAt;
    const rss = new RssSampler(hub.pid, 50);
    rss.start();
    const seqAfter = await publish(port, after);
    log(`    +${((nowMs() - listeningAt) / 1000).toFixed(1)} s: the ${after} messages after the restart are published`);
    await pool.storm({ type: 'storm-want', seq: seqAfter });
    let last: StormStats | null = null;
    let lastProgress = nowMs();
    try {
      await until(`all clients at seq ${seqAfter} after the restart`, opts.stormTimeoutMs, async () => {
        last = total(await pool.storm({ type: 'storm-stats', since: killedAt, attemptsFrom: listeningAt }));
        if (nowMs() - lastProgress >= 5000) {
          lastProgress = nowMs();
          log(`    +${((lastProgress - listeningAt) / 1000).toFixed(0)} s: ${last.open} open, ${last.caughtUp} caught up, ${last.onSse} on SSE (${last.sseSwitches} switches to SSE)`);
        }
        return last.caughtUp === n;
      });
    } catch (err) {
      result.error = (err as Error).message;
    }
    result.hubPeakRss = rss.stop();
    const t = last ?? total(await pool.storm({ type: 'storm-stats', since: killedAt, attemptsFrom: listeningAt }));
    result.caughtUp = t.caughtUp;
    result.resumeMs = t.allCaughtUpAt ? t.allCaughtUpAt - listeningAt : null;
    result.backoffFloorMs = t.lastFirstAttemptAt ? t.lastFirstAttemptAt - listeningAt : null;
    result.peakHandshakesPerSec = Math.max(0, ...t.welcomeBuckets) * 10;
    result.lost = t.lost;
    result.duplicated = t.duplicated;
    result.sseSwitches = t.sseSwitches;
    result.missing = n * seqAfter - t.received + t.duplicated;
    // Caught up counts from the want, which follows the publishes: steps before it show none.
    result.timeline = timeline(t, listeningAt - killedAt);
    log(`    per ${STEP_MS / 1000} s after listening (attempts begun / handshakes / caught up so far): ${result.timeline.map((s) => `${s.attempts}/${s.handshakes}/${s.caughtUp}`).join('  ')}`);
    log(
      `  tickhub: down ${result.downMs.toFixed(0)} ms; all ${t.caughtUp}/${n} caught up ${result.resumeMs === null ? 'NOT' : `${result.resumeMs.toFixed(0)} ms`} after listening ` +
        `(the last client first tried ${result.backoffFloorMs === null ? '–' : `${result.backoffFloorMs.toFixed(0)} ms`} after it); ` +
        `peak ${result.peakHandshakesPerSec} handshakes/s; lost ${t.lost}, duplicated ${t.duplicated}, missing ${result.missing}; peak RSS ${(result.hubPeakRss / 2 ** 20).toFixed(0)} MB`,
    );
  } finally {
    await pool.storm({ type: 'storm-close' }).catch(() => undefined);
    await hub?.stop();
    await redis.stop();
  }
  if (ceiling) {
    const srv = await ServerProcess.start(ceiling, root, logFile('ceiling'));
    try {
      const c = await pool.connect(ceiling.sub(srv.port), null, n, n);
      result.ceilingAcceptMs = c.failed ? null : c.ms;
      log(`  ceiling: ${c.opened} handshakes opened at once, all accepted in ${c.ms.toFixed(0)} ms${c.failed ? ` (${c.failed} failed: ${c.firstError})` : ''}`);
    } finally {
      await pool.disconnect().catch(() => undefined);
      await srv.stop();
    }
  }
  await pool.stop();
  return result;
}

const fmt = (x: number | null, d = 0): string => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(d));

export function renderStorm(r: StormResult): string {
  const ratio = r.resumeMs !== null && r.ceilingAcceptMs ? r.resumeMs / r.ceilingAcceptMs : null;
  return [
    `### Reconnect storm: ${r.clients} tickhub clients (backoff ${r.minBackoffMs}-${r.maxBackoffMs} ms, full jitter) resume after kill -9 and restart on Redis`,
    '',
    '| hub down (kill to listening) ms | all resumed after listening, ms | of which backoff (last client\'s first try after listening), ms | caught up | peak handshakes/s | lost | duplicated | missing | hub peak RSS MB | ceiling accepts all at once, ms | tickhub / ceiling |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${fmt(r.downMs)} | ${fmt(r.resumeMs)} | ${fmt(r.backoffFloorMs)} | ${r.caughtUp}/${r.clients} | ${r.peakHandshakesPerSec} | ${r.lost} | ${r.duplicated} | ${r.missing} | ${fmt(r.hubPeakRss / 2 ** 20)} | ${fmt(r.ceilingAcceptMs)} | ${ratio === null ? '–' : `${ratio.toFixed(2)}×`} |`,
    r.error ? `\nerror: ${r.error}` : '',
    '',
    r.timeline.length ? `Its course, per ${STEP_MS / 1000} s after the listen (attempts begun / handshakes completed / clients caught up so far): ${r.timeline.map((s) => `${s.attempts}/${s.handshakes}/${s.caughtUp}`).join(' · ')}` : '',
    '',
  ].join('\n');
}

/**
 * The reconnect storm's subscribers, inside a load-generator process: real tickhub clients
 * (client/hub-client.ts, with its backoff and jitter, resuming with since/epoch) on `ws`, each
 * subscribed to one topic. Every message handed to the application is checked against the last
 * seq: a gap counts as lost, a repeat as duplicated.
 */
import WebSocket from 'ws';
import { HubClient } from '../../client/hub-client.ts';
import { nowMs } from './clock.ts';

export interface StormOpenSpec {
  url: string;
  token?: string;
  topic: string;
  count: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

/** Totals over this process's clients. */
export interface StormStats {
  clients: number;
  open: number;
  /** Clients that have seq `wantSeq` or later. */
  caughtUp: number;
  /** nowMs() at which the last of them caught up (0 if not all did). */
  allCaughtUpAt: number;
  received: number;
  lost: number;
  duplicated: number;
  /** Welcomes (completed handshakes) since `since`, in 100 ms buckets from `since`. */
  welcomeBuckets: number[];
  /** Connection attempts begun (the latest MAX_ATTEMPTS per client), and clients caught up, likewise. */
  attemptBuckets: number[];
  caughtUpBuckets: number[];
  /** Clients whose live transport is the SSE fallback now, and switches to it since the last `want`. */
  onSse: number;
  sseSwitches: number;
  /**
   * With `attemptsFrom`: the latest of the clients' first connection attempts at or after it
   * (nowMs(); an attempt begun between `since` and it that was welcomed counts as at it; 0 if
   * some client has made none yet). No hub can resume every client before this:
   * until then some client's backoff had it waiting, not trying.
   */
  lastFirstAttemptAt: number;
}

/** Welcome buckets cover at most 10 minutes after `since`. */
const MAX_BUCKETS = 6000;
/** Attempts remembered per client: a storm takes a handful (the backoff grows to seconds). */
const MAX_ATTEMPTS = 32;

/** Count moment `t` in `buckets`, 100 ms each from `since` (moments outside MAX_BUCKETS are left out). */
function countIn(buckets: number[], t: number, since: number): void {
  const b = Math.floor((t - since) / 100);
  if (b < 0 || b >= MAX_BUCKETS) return;
  while (buckets.length <= b) buckets.push(0);
  buckets[b]++;
}

class StormClient {
  lastSeq = 0;
  received = 0;
  lost = 0;
  duplicated = 0;
  caughtUpAt = 0;
  sseSwitches = 0;
  /** When its latest connection attempts began (nowMs()), oldest first, at most MAX_ATTEMPTS. */
  readonly attempts: number[] = [];
  /** When the attempt that was last welcomed began (0 before any). */
  welcomedAttempt = 0;
  readonly client: HubClient;

  constructor(spec: StormOpenSpec, welcomes: number[], wanted: () => number) {
    this.client = new HubClient({
      url: spec.url,
      token: spec.token,
      connect: (u, p) => {
        if (this.attempts.push(nowMs()) > MAX_ATTEMPTS) this.attempts.shift();
        return new WebSocket(u, p, { perMessageDeflate: false }) as unknown as ReturnType<NonNullable<ConstructorParameters<typeof HubClient>[0]['connect']>>;
      },
      minBackoffMs: spec.minBackoffMs,
      maxBackoffMs: spec.maxBackoffMs,
      onWelcome: () => {
        welcomes.push(nowMs());
        this.welcomedAttempt = this.attempts[this.attempts.length - 1] ?? 0;
      },
      onTransport: (t) => {
        if (t === 'sse') this.sseSwitches++;
      },
    });
    this.client.subscribe(spec.topic, (m) => {
      this.received++;
      if (m.seq <= this.lastSeq) this.duplicated++;
      else {
        this.lost += m.seq - this.lastSeq - 1;
        this.lastSeq = m.seq;
      }
      if (this.caughtUpAt === 0 && this.lastSeq >= wanted()) this.caughtUpAt = nowMs();
    });
  }
}

export class StormClients {
  private clients: StormClient[] = [];
  private readonly welcomes: number[] = [];
  private wantSeq = Infinity;

  open(spec: StormOpenSpec): void {
    for (let i = 0; i < spec.count; i++) this.clients.push(new StormClient(spec, this.welcomes, () => this.wantSeq));
  }

  /** From now on, a client counts as caught up once it has `seq` (and the ones before). */
  want(seq: number): void {
    this.wantSeq = seq;
    for (const c of this.clients) {
      c.caughtUpAt = c.lastSeq >= seq ? nowMs() : 0;
      c.sseSwitches = 0; // count those of the phase that follows (the first connects have theirs)
    }
  }

  stats(since: number, attemptsFrom?: number): StormStats {
    let open = 0;
    let caughtUp = 0;
    let last = 0;
    let received = 0;
    let lost = 0;
    let duplicated = 0;
    let onSse = 0;
    let sseSwitches = 0;
    let lastFirstAttemptAt = 0;
    let someNotTried = false;
    for (const c of this.clients) {
      if (attemptsFrom !== undefined) {
        // An attempt begun after `since` but before `attemptsFrom` that got its welcome was
        // already trying when the hub listened (the runner sees the port open a little late).
        const first = c.welcomedAttempt > 0 && c.welcomedAttempt >= since && c.welcomedAttempt < attemptsFrom ? attemptsFrom : c.attempts.find((t) => t >= attemptsFrom);
        if (first === undefined) someNotTried = true;
        else lastFirstAttemptAt = Math.max(lastFirstAttemptAt, first);
      }
      if (c.client.status === 'open') open++;
      if (c.client.transport === 'sse') onSse++;
      sseSwitches += c.sseSwitches;
      if (c.caughtUpAt > 0) {
        caughtUp++;
        last = Math.max(last, c.caughtUpAt);
      }
      received += c.received;
      lost += c.lost;
      duplicated += c.duplicated;
    }
    const attemptBuckets: number[] = [];
    const caughtUpBuckets: number[] = [];
    for (const c of this.clients) {
      for (const t of c.attempts) countIn(attemptBuckets, t, since);
      if (c.caughtUpAt > 0) countIn(caughtUpBuckets, c.caughtUpAt, since);
    }
    const welcomeBuckets: number[] = [];
    for (const t of this.welcomes) countIn(welcomeBuckets, t, since);
    return {
      clients: this.clients.length,
      open,
      caughtUp,
      allCaughtUpAt: caughtUp === this.clients.length ? last : 0,
      received,
      lost,
      duplicated,
      welcomeBuckets,
      attemptBuckets,
      caughtUpBuckets,
      onSse,
      sseSwitches,
      lastFirstAttemptAt: someNotTried ? 0 : lastFirstAttemptAt,
    };
  }

  close(): void {
    for (const c of this.clients) c.client.close();
    this.clients = [];
    this.welcomes.length = 0;
  }
}

/**
 * The Redis broker: many hub nodes, one Redis. Seqs come from one Lua script per publish that
 * increments the topic's counter, appends to its stream and publishes on its channel together,
 * so seqs are global and a client can resume on any node. Live delivery is Redis pub/sub, one
 * upstream subscription per topic or topic prefix per node, reference-counted; history is a
 * Redis Stream per topic trimmed by count and age.
 *
 * Delivery to the hub is exactly the seq order per topic: every message is checked against the
 * last seq delivered for its topic, which drops the copies overlapping upstream subscriptions
 * bring and reveals gaps. A gap (pub/sub dropped while disconnected) is filled from the stream
 * before live delivery resumes; what cannot be filled is reported through `onLost`. When Redis
 * comes back without its data, the epoch changes and the hub is told (docs/operations.md).
 */
import { randomBytes } from 'node:crypto';
import { createClient, ErrorReply } from 'redis';
import type { Logger } from 'pino';
import type { RetentionRule } from '../../config.ts';
import { guarded } from '../../guard.ts';
import { matches } from '../../../protocol/topics.ts';
import {
  BrokerUnavailableError,
  DEFAULT_MAX_TOPICS,
  TooManyTopicsError,
  encodeMessage,
  forgetAfterMs,
  type Broker,
  type DeliveryHandler,
  type Envelope,
  type HistoryPage,
  type HistoryQuery,
  type LostNotice,
  type Presence,
} from '../broker.ts';
import { RedisPresence } from './presence.ts';
import { EPOCH, HEARTBEAT, HISTORY, LEAVE, PUBLISH, SWEEP, type Script } from './scripts.ts';
import { Sequencer } from './sequencer.ts';
import { isCovered, planUpstream, type UpstreamKind } from './upstream.ts';

type Client = ReturnType<typeof createClient>;
type Reply = string | number | null | Reply[];

export interface RedisBrokerOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://...`. */
  url: string;
  /** Retention per topic pattern, first match wins (every node must use the same rules). */
  retention: RetentionRule[];
  /** Key prefix, so several clusters (or tests) can share one Redis. */
  prefix?: string;
  /** This node's id in presence and origins; random by default. */
  nodeId?: string;
  /** How often the node refreshes its heartbeat (ms); its entries expire after `nodeTtlMs`. */
  heartbeatMs?: number;
  nodeTtlMs?: number;
  /** How long `connect` waits for Redis before giving up (ms). */
  connectTimeoutMs?: number;
  /** Live topics at most, cluster-wide (MAX_TOPICS); checked inside the publish script. */
  maxTopics?: number;
  log?: Logger;
}

interface Retention {
  maxMessages: number;
  maxAgeMs: number;
}

/** Each node runs one chunk of the idle-topic sweep this often, over this many seq-hash fields. */
const SWEEP_INTERVAL_MS = 1000;
const SWEEP_CHUNK = 1000;
/** Per-topic dedupe entries of the sequencer visited per sweep tick (forgetting those of idle topics). */
const DELIVERED_SWEEP_BATCH = 5000;

/**
 * @example
 * const broker = await RedisBroker.connect({ url: 'redis://127.0.0.1:6379', retention: defaultRetention });
 * const running = await startHub(config, { broker });
 */
export class RedisBroker implements Broker {
  readonly nodeId: string;
  readonly presence: RedisPresence;
  /** Used only if the epoch key is missing, i.e. Redis lost its data; renewed after each use. */
  private epochCandidate = newEpoch();
  private readonly prefix: string;
  private readonly cmd: Client;
  private readonly sub: Client;
  private deliver: DeliveryHandler = () => {};
  private lost: (notice: LostNotice) => void = () => {};
  private readonly retentionCache = new Map<string, Retention>();
  /** Local interest: hub pattern -> number of local subscriptions. */
  private readonly patternRefs = new Map<string, number>();
  /** Upstream subscriptions in place: Redis channel or glob -> kind. */
  private readonly upstream = new Map<string, UpstreamKind>();
  private upstreamSync: Promise<void> = Promise.resolve();
  /** Order, dedupe, gaps and epochs of what reaches the hub (set once connected). */
  private sequencer!: Sequencer;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private sweepCursor = '0';
  private sweeping = false;
  private clockOffsetMs = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private readonly log: Logger | undefined;
  private readonly heartbeatMs: number;
  private readonly nodeTtlMs: number;

  private constructor(private readonly options: RedisBrokerOptions) {
    this.prefix = options.prefix ?? 'th:';
    this.nodeId = options.nodeId ?? randomBytes(6).toString('base64url');
    this.log = options.log;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.nodeTtlMs = options.nodeTtlMs ?? 5000;
    const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** retries, 1000);
    this.cmd = createClient({ url: options.url, disableOfflineQueue: true, socket: { reconnectStrategy, connectTimeout: 2000 } });
    this.sub = this.cmd.duplicate();
    this.presence = new RedisPresence(this);
    let cmdWasReady = false;
    this.cmd.on('error', (err: Error) => this.log?.warn({ err: err.message }, 'redis (commands) error'));
    this.cmd.on('ready', () => {
      if (cmdWasReady) this.log?.info('redis (commands) reconnected');
      cmdWasReady = true;
    });
    let subWasReady = false;
    this.sub.on('error', (err: Error) => {
      this.sequencer?.hold(); // hold live messages until the gap is closed
      this.log?.warn({ err: err.message }, 'redis (pub/sub) error');
      if (this.sub.isReady) void this.sequencer?.recover(); // not a disconnect: check for a gap right away
    });
    this.sub.on('ready', () => {
      if (!subWasReady) {
        subWasReady = true;
        return;
      }
      this.log?.info('redis (pub/sub) reconnected; closing the gap from the streams');
      void this.sequencer.recover();
    });
  }

  /** Connect both Redis connections, establish the epoch, start the heartbeat. */
  static async connect(options: RedisBrokerOptions): Promise<RedisBroker> {
    const broker = new RedisBroker(options);
    const timeout = options.connectTimeoutMs ?? 10_000;
    try {
      await withTimeout(Promise.all([broker.cmd.connect(), broker.sub.connect()]), timeout, `Redis at ${redactUrl(options.url)} did not answer within ${timeout} ms`);
      broker.sequencer = broker.createSequencer(await broker.ensureEpoch());
      await broker.sub.subscribe(broker.key(`t:${broker.nodeId}`), (message) => broker.sequencer.alive(Number(message)));
      await broker.heartbeat();
    } catch (err) {
      broker.closed = true;
      broker.cmd.destroy();
      broker.sub.destroy();
      throw err;
    }
    broker.heartbeatTimer = setInterval(() => void broker.heartbeat().catch(() => {}), broker.heartbeatMs);
    broker.heartbeatTimer.unref();
    const log = broker.log ?? { error: () => {} };
    broker.sweepTimer = setInterval(guarded(log, 'redis topic sweep', () => void broker.sweep()), SWEEP_INTERVAL_MS);
    broker.sweepTimer.unref();
    return broker;
  }

  get epoch(): string {
    return this.sequencer.epoch;
  }

  get status(): 'ok' | 'degraded' {
    return this.cmd.isReady && this.sub.isReady && !this.sequencer.holding ? 'ok' : 'degraded';
  }

  onDeliver(handler: DeliveryHandler): void {
    this.deliver = handler;
  }

  onLost(handler: (notice: LostNotice) => void): void {
    this.lost = handler;
  }

  /** Redis time, estimated from the last heartbeat. */
  now(): number {
    return Math.round(Date.now() + this.clockOffsetMs);
  }

  // ---- publish and history -------------------------------------------------------------------

  async publish(topic: string, dataJson: string, origin?: string): Promise<Envelope> {
    const { maxMessages, maxAgeMs } = this.retention(topic);
    const keys = [this.key('epoch'), this.key('seq'), this.key(`s:${topic}`), this.key(`m:${topic}`), this.key('last')];
    const maxTopics = this.options.maxTopics ?? DEFAULT_MAX_TOPICS;
    for (let attempt = 0; ; attempt++) {
      const args = [topic, dataJson, String(maxMessages), String(maxAgeMs), origin ? `${this.nodeId}/${origin}` : '-', this.epoch, this.epochCandidate, String(maxTopics)];
      const reply = (await this.script(PUBLISH, keys, args)) as number[] | [0, string];
      if (reply[0] === 2) throw new TooManyTopicsError(maxTopics);
      if (reply[0] === 1) {
        const seq = Number(reply[1]);
        const ts = Number(reply[2]);
        return { topic, seq, ts, json: encodeMessage(topic, seq, ts, dataJson), origin };
      }
      this.adoptEpoch(String(reply[1]));
      if (attempt > 0) throw new BrokerUnavailableError('the Redis epoch keeps changing');
    }
  }

  async history(topic: string, { since, limit }: HistoryQuery): Promise<HistoryPage> {
    const args = [topic, since === undefined ? '' : String(since), limit === undefined ? '' : String(limit), String(this.retention(topic).maxAgeMs), this.epochCandidate];
    const reply = (await this.script(HISTORY, [this.key('epoch'), this.key('seq'), this.key(`s:${topic}`)], args)) as (number | string)[];
    const epoch = String(reply[0]);
    this.adoptEpoch(epoch);
    const lastSeq = Number(reply[1]);
    const firstSeq = Number(reply[2]);
    const messages: Envelope[] = [];
    for (let i = 3; i < reply.length; i += 3) messages.push({ topic, seq: Number(reply[i]), ts: Number(reply[i + 1]), json: String(reply[i + 2]) });
    const truncated = since !== undefined && since + 1 < firstSeq && since < lastSeq;
    return { epoch, messages, lastSeq, truncated };
  }

  async topics(pattern?: string): Promise<string[]> {
    const all = await this.call(() => this.cmd.hKeys(this.key('seq')));
    return pattern ? all.filter((t) => matches(pattern, t)) : all;
  }

  async topicCount(): Promise<number> {
    return this.call(() => this.cmd.hLen(this.key('seq')));
  }

  /**
   * One tick of forgetting idle topics: a chunk of the cluster-wide sweep (SWEEP script; every
   * node runs it, each with its own cursor), and a slice of this node's per-topic dedupe state.
   */
  async sweep(): Promise<void> {
    this.sequencer.forgetIdle(DELIVERED_SWEEP_BATCH, (topic, ts) => this.now() - ts > this.forgetAfter(topic));
    if (this.sweeping || this.closed || !this.cmd.isReady) return;
    this.sweeping = true;
    try {
      const args = [this.sweepCursor, String(SWEEP_CHUNK), this.key('s:'), String(forgetAfterMs(0, 0)), ...this.retentionArgs()];
      const reply = (await this.script(SWEEP, [this.key('seq'), this.key('last')], args)) as [string, number];
      this.sweepCursor = String(reply[0]);
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'topic sweep failed; retrying next tick');
    } finally {
      this.sweeping = false;
    }
  }

  private retentionArgs(): string[] {
    return this.options.retention.flatMap((r) => [r.pattern, String(r.maxMessages), String(r.maxAgeSeconds * 1000)]);
  }

  private forgetAfter(topic: string): number {
    const { maxMessages, maxAgeMs } = this.retention(topic);
    return forgetAfterMs(maxMessages, maxAgeMs);
  }

  // ---- live delivery -------------------------------------------------------------------------

  async subscribe(pattern: string): Promise<void> {
    this.patternRefs.set(pattern, (this.patternRefs.get(pattern) ?? 0) + 1);
    await this.syncUpstream();
  }

  async unsubscribe(pattern: string): Promise<void> {
    const n = (this.patternRefs.get(pattern) ?? 0) - 1;
    if (n > 0) this.patternRefs.set(pattern, n);
    else this.patternRefs.delete(pattern);
    await this.syncUpstream();
  }

  /** Upstream channels and globs this node has (for tests and /healthz). */
  upstreamSubscriptions(): string[] {
    return [...this.upstream.keys()].sort();
  }

  /**
   * Bring the upstream subscriptions in line with local interest. Subscribes before it
   * unsubscribes, so moving a topic from its channel to a covering glob loses nothing.
   * If Redis is down it leaves the rest for the reconnect (recover() calls it again).
   */
  private syncUpstream(): Promise<void> {
    const run = async () => {
      if (this.closed) return;
      const wanted = planUpstream(this.patternRefs.keys(), this.prefix);
      try {
        for (const [name, kind] of wanted) {
          if (this.upstream.has(name)) continue;
          const listener = (message: string, channel: string) => this.onMessage(channel, message);
          if (kind === 'channel') await this.sub.subscribe(name, listener);
          else await this.sub.pSubscribe(name, listener);
          this.upstream.set(name, kind);
        }
        for (const [name, kind] of [...this.upstream]) {
          if (wanted.has(name)) continue;
          if (kind === 'channel') await this.sub.unsubscribe(name);
          else await this.sub.pUnsubscribe(name);
          this.upstream.delete(name);
        }
      } catch (err) {
        this.log?.warn({ err: (err as Error).message }, 'upstream (un)subscribe deferred until Redis is back');
      }
      this.sequencer.forget((topic) => isCovered(topic, this.upstream, this.prefix));
    };
    this.upstreamSync = this.upstreamSync.then(run);
    return this.upstreamSync;
  }

  /** A pub/sub message: `<epoch> <seq> <ts> <origin> <json>` on `<prefix>m:<topic>`. */
  private onMessage(channel: string, message: string): void {
    const a = message.indexOf(' ');
    const b = message.indexOf(' ', a + 1);
    const c = message.indexOf(' ', b + 1);
    const d = message.indexOf(' ', c + 1);
    const epoch = message.slice(0, a);
    const ts = Number(message.slice(b + 1, c));
    const origin = message.slice(c + 1, d);
    const slash = origin.indexOf('/');
    const env: Envelope = {
      topic: channel.slice(this.prefix.length + 2),
      seq: Number(message.slice(a + 1, b)),
      ts,
      json: message.slice(d + 1),
      origin: slash > 0 && origin.slice(0, slash) === this.nodeId ? origin.slice(slash + 1) : undefined,
    };
    this.sequencer.receive(env, epoch);
  }

  /** The ordering logic, fed from this broker's Redis reads. */
  private createSequencer(epoch: string): Sequencer {
    return new Sequencer(
      epoch,
      {
        ready: () => this.sub.isReady && !this.closed,
        prepare: async () => {
          await this.syncUpstream();
          await this.presence.reassert();
        },
        epoch: () => this.ensureEpoch(),
        rotateEpoch: async (old) => {
          this.log?.warn({ epoch: old }, 'seq went back in Redis; starting a new epoch');
          return this.epochFromScript('rotate', old);
        },
        history: (topic, query) => this.history(topic, query),
        topics: () => this.topics(),
        patterns: () => this.patternRefs.keys(),
      },
      {
        deliver: (env) => this.deliver(env),
        lost: (notice) => this.lost(notice),
        epochChanged: (old, epoch) => {
          this.log?.warn({ old, epoch }, 'Redis history was lost: new epoch');
          void this.presence.reassert().catch(() => {});
        },
        retrying: (err) => this.log?.warn({ err: (err as Error).message }, 'gap recovery failed; retrying'),
      },
    );
  }

  /** The epoch Redis has, set from this node's candidate if the key is missing. */
  private ensureEpoch(): Promise<string> {
    return this.epochFromScript('ensure', '');
  }

  private async epochFromScript(mode: 'ensure' | 'rotate', old: string): Promise<string> {
    const epoch = String(await this.script(EPOCH, [this.key('epoch')], [this.epochCandidate, mode, old]));
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    return epoch;
  }

  /** Follow an epoch seen in a reply; the candidate is spent if Redis took it. */
  private adoptEpoch(epoch: string): void {
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    this.sequencer.adoptEpoch(epoch);
  }

  // ---- heartbeat, presence plumbing ----------------------------------------------------------

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    const sent = Date.now();
    const keys = [this.key(`node:${this.nodeId}`), this.key('nicks'), this.key('epoch'), this.key(`t:${this.nodeId}`)];
    const reply = (await this.script(HEARTBEAT, keys, [String(this.nodeTtlMs), this.key('node:'), this.epochCandidate])) as (number | string)[];
    const received = Date.now();
    this.clockOffsetMs = Number(reply[0]) - (sent + received) / 2;
    this.adoptEpoch(String(reply[1]));
    const reaped = reply.slice(2).map(String);
    if (reaped.length > 0) this.presence.expired(reaped);
  }

  /** Run one of our scripts (EVALSHA, loading it on NOSCRIPT); connection trouble becomes BrokerUnavailableError. */
  async script(script: Script, keys: string[], args: string[]): Promise<Reply> {
    return this.call(async () => {
      try {
        return (await this.cmd.sendCommand(['EVALSHA', script.sha, String(keys.length), ...keys, ...args])) as Reply;
      } catch (err) {
        if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
        return (await this.cmd.sendCommand(['EVAL', script.source, String(keys.length), ...keys, ...args])) as Reply;
      }
    });
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new BrokerUnavailableError('broker closed');
    if (!this.cmd.isReady) throw new BrokerUnavailableError('Redis is unreachable');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ErrorReply) throw err;
      throw new BrokerUnavailableError(`Redis is unreachable: ${(err as Error).message}`);
    }
  }

  key(suffix: string): string {
    return this.prefix + suffix;
  }

  private retention(topic: string): Retention {
    let r = this.retentionCache.get(topic);
    if (!r) {
      const rule = this.options.retention.find((x) => matches(x.pattern, topic));
      r = { maxMessages: rule?.maxMessages ?? 0, maxAgeMs: (rule?.maxAgeSeconds ?? 0) * 1000 };
      if (this.retentionCache.size > 10_000) this.retentionCache.clear();
      this.retentionCache.set(topic, r);
    }
    return r;
  }

  /** Leave the cluster: drop this node's presence, close both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    try {
      if (this.cmd.isReady) await this.script(LEAVE, [this.key(`node:${this.nodeId}`), this.key('nicks')], [this.nodeId]);
    } catch {
      // the node key expires by itself
    }
    this.closed = true;
    this.sequencer.stop();
    await Promise.allSettled([this.cmd.close(), this.sub.close()]);
    this.cmd.destroy();
    this.sub.destroy();
  }
}

const newEpoch = () => randomBytes(6).toString('base64url');
const redactUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BrokerUnavailableError(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

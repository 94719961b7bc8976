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
 *
 * This file ties the parts together: client.ts (connections, keys, script runner, errors),
 * scripts.ts + scripts/*.lua (what runs in Redis), sequencer.ts (ordering, gaps, epochs; pure),
 * subscriptions.ts + upstream.ts (upstream pub/sub for local interest), sweep.ts (forgetting
 * idle topics), retention.ts (rules per topic), presence.ts (chat nicks).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RetentionRule } from '../../config.ts';
import { guarded } from '../../guard.ts';
import { matches } from '../../../protocol/topics.ts';
import { BrokerUnavailableError, DEFAULT_MAX_TOPICS, TooManyTopicsError, exemptFromTopicCap, encodeMessage, type Broker, type DeliveryHandler, type Envelope, type HistoryPage, type HistoryQuery, type LostNotice } from '../broker.ts';
import { RedisClient } from './client.ts';
import { CoalescedReads } from './coalesce.ts';
import { RedisPresence } from './presence.ts';
import { RetentionTable } from './retention.ts';
import { EPOCH, HEARTBEAT, HISTORY, LEAVE, PUBLISH } from './scripts.ts';
import { Sequencer } from './sequencer.ts';
import { UpstreamSubscriptions } from './subscriptions.ts';
import { TopicSweep } from './sweep.ts';

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

/** Each node runs one step of the idle-topic sweep (redis/sweep.ts) this often. */
const SWEEP_INTERVAL_MS = 1000;
/** Per-topic dedupe entries of the sequencer visited per sweep tick (forgetting those of idle topics). */
const DELIVERED_SWEEP_BATCH = 5000;

/**
 * @example
 * const broker = await RedisBroker.connect({ url: 'redis://127.0.0.1:6379', retention: defaultRetention });
 * const running = await startHub(config, { broker });
 */
export class RedisBroker implements Broker {
  /** Several nodes: topic listings come from the seq hash, cluster-wide. */
  readonly shared = true;
  readonly nodeId: string;
  readonly presence: RedisPresence;
  /** Used only if the epoch key is missing, i.e. Redis lost its data; renewed after each use. */
  private epochCandidate = newEpoch();
  private readonly redis: RedisClient;
  private deliver: DeliveryHandler = () => {};
  private lost: (notice: LostNotice) => void = () => {};
  private readonly retention: RetentionTable;
  private readonly topicSweep: TopicSweep;
  /** Local interest and the upstream subscriptions serving it. */
  private readonly subscriptions: UpstreamSubscriptions;
  /** Same topic, same query, same turn: one HISTORY script (coalesce.ts). */
  private readonly historyReads = new CoalescedReads<HistoryPage>();
  /** Order, dedupe, gaps and epochs of what reaches the hub (set once connected). */
  private sequencer!: Sequencer;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private clockOffsetMs = 0;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private readonly log: Logger | undefined;
  private readonly heartbeatMs: number;
  private readonly nodeTtlMs: number;

  private constructor(private readonly options: RedisBrokerOptions) {
    this.nodeId = options.nodeId ?? randomBytes(6).toString('base64url');
    this.log = options.log;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.nodeTtlMs = options.nodeTtlMs ?? 5000;
    this.redis = new RedisClient(
      { url: options.url, prefix: options.prefix ?? 'th:', nodeId: this.nodeId, idleTimeoutMs: Math.max(3000, 3 * this.heartbeatMs), log: options.log },
      {
        error: (connected) => {
          this.sequencer?.hold(); // hold live messages until the gap is closed
          if (connected) void this.sequencer?.recover(); // not a disconnect: check for a gap right away
        },
        reconnected: () => void this.sequencer.recover(),
      },
    );
    this.presence = new RedisPresence(this.redis);
    this.retention = new RetentionTable(options.retention);
    this.topicSweep = new TopicSweep(this.redis, this.retention, options.log);
    const liveEvents = {
      message: (env: Envelope, epoch: string) => this.sequencer.receive(env, epoch),
      synced: (covered: (topic: string) => boolean) => this.sequencer.forget(covered),
    };
    this.subscriptions = new UpstreamSubscriptions(this.redis, liveEvents, options.log);
  }

  /** Connect both Redis connections, establish the epoch, start the heartbeat. */
  static async connect(options: RedisBrokerOptions): Promise<RedisBroker> {
    const broker = new RedisBroker(options);
    const timeout = options.connectTimeoutMs ?? 10_000;
    try {
      await broker.redis.connect(timeout);
      broker.sequencer = broker.createSequencer(await broker.ensureEpoch());
      await broker.redis.sub.subscribe(broker.redis.key(`t:${broker.nodeId}`), (message) => broker.sequencer.alive(Number(message)));
      await broker.heartbeat();
    } catch (err) {
      broker.redis.destroy();
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
    return this.redis.ready && !this.sequencer.holding ? 'ok' : 'degraded';
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
    const { maxMessages, maxAgeMs } = this.retention.of(topic);
    const key = (suffix: string) => this.redis.key(suffix);
    const maxTopics = this.options.maxTopics ?? DEFAULT_MAX_TOPICS;
    for (let attempt = 0; ; attempt++) {
      const keys = [key('epoch'), key('seq'), key(`s:${topic}`), key(`m:${topic}`), key('last'), key(`pos:${this.epoch}`)];
      const args = [topic, dataJson, String(maxMessages), String(maxAgeMs), origin ? `${this.nodeId}/${origin}` : '-', this.epoch, this.epochCandidate, exemptFromTopicCap(topic) ? '0' : String(maxTopics)];
      const reply = (await this.redis.script(PUBLISH, keys, args)) as number[] | [0, string];
      if (reply[0] === 2) throw new TooManyTopicsError(maxTopics);
      if (reply[0] === 1) {
        const seq = Number(reply[1]);
        const ts = Number(reply[2]);
        return { topic, seq, ts, pos: Number(reply[3]), json: encodeMessage(topic, seq, ts, dataJson), origin };
      }
      this.adoptEpoch(String(reply[1]));
      if (attempt > 0) throw new BrokerUnavailableError('the Redis epoch keeps changing');
    }
  }

  history(topic: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.historyReads.run(`${topic} ${query.since ?? ''} ${query.limit ?? ''}`, () => this.readHistory(topic, query));
  }

  private async readHistory(topic: string, { since, limit }: HistoryQuery): Promise<HistoryPage> {
    const args = [topic, since === undefined ? '' : String(since), limit === undefined ? '' : String(limit), String(this.retention.of(topic).maxAgeMs), this.epochCandidate];
    const keys = [this.redis.key('epoch'), this.redis.key('seq'), this.redis.key(`s:${topic}`)];
    const reply = (await this.redis.script(HISTORY, keys, args)) as (number | string)[];
    const epoch = String(reply[0]);
    this.adoptEpoch(epoch);
    const lastSeq = Number(reply[1]);
    const firstSeq = Number(reply[2]);
    const messages: Envelope[] = [];
    for (let i = 3; i < reply.length; i += 4) messages.push({ topic, seq: Number(reply[i]), ts: Number(reply[i + 1]), json: String(reply[i + 2]), pos: Number(reply[i + 3]) });
    const truncated = since !== undefined && since + 1 < firstSeq && since < lastSeq;
    return { epoch, messages, lastSeq, truncated };
  }

  async position(): Promise<number> {
    const epoch = this.epoch;
    const last = await this.redis.call(() => this.redis.cmd.get(this.redis.key(`pos:${epoch}`)));
    return Number(last ?? 0);
  }

  async topics(pattern?: string): Promise<string[]> {
    const all = await this.redis.call(() => this.redis.cmd.hKeys(this.redis.key('seq')));
    return pattern ? all.filter((t) => matches(pattern, t)) : all;
  }

  async topicCount(): Promise<number> {
    return this.redis.call(() => this.redis.cmd.hLen(this.redis.key('seq')));
  }

  /**
   * One tick of forgetting idle topics: a step of the cluster-wide sweep (redis/sweep.ts), and a
   * slice of this node's per-topic dedupe state.
   */
  async sweep(): Promise<void> {
    this.sequencer.forgetIdle(DELIVERED_SWEEP_BATCH, (topic, ts) => this.now() - ts > this.retention.forgetAfter(topic));
    await this.topicSweep.step();
  }

  // ---- live delivery -------------------------------------------------------------------------

  async subscribe(pattern: string): Promise<void> {
    await this.subscriptions.add(pattern);
  }

  async unsubscribe(pattern: string): Promise<void> {
    await this.subscriptions.remove(pattern);
  }

  /** Upstream channels and globs this node has (for tests and /healthz). */
  upstreamSubscriptions(): string[] {
    return this.subscriptions.channels();
  }

  /** The ordering logic, fed from this broker's Redis reads. */
  private createSequencer(epoch: string): Sequencer {
    return new Sequencer(
      epoch,
      {
        ready: () => this.redis.sub.isReady && !this.redis.closed,
        prepare: async () => {
          await this.subscriptions.sync();
          await this.presence.reassert();
        },
        epoch: () => this.ensureEpoch(),
        rotateEpoch: async (old) => {
          this.log?.warn({ epoch: old }, 'seq went back in Redis; starting a new epoch');
          return this.epochFromScript('rotate', old);
        },
        history: (topic, query) => this.history(topic, query),
        topics: () => this.topics(),
        patterns: () => this.subscriptions.patterns(),
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
    const epoch = String(await this.redis.script(EPOCH, [this.redis.key('epoch'), this.redis.key(`pos:${old}`)], [this.epochCandidate, mode, old]));
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    return epoch;
  }

  /** Follow an epoch seen in a reply; the candidate is spent if Redis took it. */
  private adoptEpoch(epoch: string): void {
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    this.sequencer.adoptEpoch(epoch);
  }

  // ---- heartbeat, leaving ------------------------------------------------------------------

  private async heartbeat(): Promise<void> {
    if (this.redis.closed) return;
    const sent = Date.now();
    const key = (suffix: string) => this.redis.key(suffix);
    const keys = [key(`node:${this.nodeId}`), key('nicks'), key('epoch'), key(`t:${this.nodeId}`)];
    const reply = (await this.redis.script(HEARTBEAT, keys, [String(this.nodeTtlMs), key('node:'), this.epochCandidate])) as (number | string)[];
    const received = Date.now();
    this.clockOffsetMs = Number(reply[0]) - (sent + received) / 2;
    this.adoptEpoch(String(reply[1]));
    const reaped = reply.slice(2).map(String);
    if (reaped.length > 0) this.presence.expired(reaped);
  }

  /** Leave the cluster: drop this node's presence, close both connections. */
  async close(): Promise<void> {
    if (this.redis.closed) return;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    try {
      if (this.redis.cmd.isReady) await this.redis.script(LEAVE, [this.redis.key(`node:${this.nodeId}`), this.redis.key('nicks')], [this.nodeId]);
    } catch {
      // the node key expires by itself
    }
    this.sequencer.stop();
    await this.redis.close();
  }
}

const newEpoch = () => randomBytes(6).toString('base64url');

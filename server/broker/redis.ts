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
import type { RetentionRule } from '../config.ts';
import { guarded } from '../guard.ts';
import { matches } from '../hub/topics.ts';
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
} from './broker.ts';
import { MapSweeper } from './map-sweep.ts';
import { CLAIM, EPOCH, HEARTBEAT, HISTORY, LEAVE, LIST_NICKS, PUBLISH, RELEASE, SWEEP, type Script } from './redis-scripts.ts';

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

/** What this node last handed to the hub for a topic. */
interface Delivered {
  seq: number;
  ts: number;
}

/** Each node runs one chunk of the idle-topic sweep this often, over this many seq-hash fields. */
const SWEEP_INTERVAL_MS = 1000;
const SWEEP_CHUNK = 1000;
/** Entries of `lastDelivered` visited per sweep tick (forgetting those of idle topics). */
const DELIVERED_SWEEP_BATCH = 5000;

/**
 * @example
 * const broker = await RedisBroker.connect({ url: 'redis://127.0.0.1:6379', retention: defaultRetention });
 * const running = await startHub(config, { broker });
 */
export class RedisBroker implements Broker {
  readonly nodeId: string;
  readonly presence: RedisPresence;
  private currentEpoch = '';
  /** Used only if the epoch key is missing, i.e. Redis lost its data; renewed after each use. */
  private epochCandidate = newEpoch();
  /** Epochs this node has left; late messages of theirs are dropped, never re-adopted. */
  private readonly retiredEpochs = new Set<string>();
  private readonly prefix: string;
  private readonly cmd: Client;
  private readonly sub: Client;
  private deliver: DeliveryHandler = () => {};
  private lost: (notice: LostNotice) => void = () => {};
  private readonly retentionCache = new Map<string, Retention>();
  /** Local interest: hub pattern -> number of local subscriptions. */
  private readonly patternRefs = new Map<string, number>();
  /** Upstream subscriptions in place: Redis channel or glob -> kind. */
  private readonly upstream = new Map<string, 'channel' | 'pattern'>();
  private upstreamSync: Promise<void> = Promise.resolve();
  /** Last seq handed to the hub per topic (for dedupe, order and gap detection). */
  private readonly lastDelivered = new Map<string, Delivered>();
  private readonly deliveredSweeper = new MapSweeper(this.lastDelivered, (topic, d) => this.now() - d.ts > this.forgetAfter(topic));
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private sweepCursor = '0';
  private sweeping = false;
  /** Redis time up to which this node has received everything published (from its own ticks). */
  private lastAliveTs = 0;
  private recovering = false;
  private pending: Envelope[] = [];
  private recovery: Promise<void> | null = null;
  private recoverAgain = false;
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
      this.recovering = true; // hold live messages until the gap is closed
      this.log?.warn({ err: err.message }, 'redis (pub/sub) error');
      if (this.sub.isReady) void this.recover(); // not a disconnect: check for a gap right away
    });
    this.sub.on('ready', () => {
      if (!subWasReady) {
        subWasReady = true;
        return;
      }
      this.log?.info('redis (pub/sub) reconnected; closing the gap from the streams');
      void this.recover();
    });
  }

  /** Connect both Redis connections, establish the epoch, start the heartbeat. */
  static async connect(options: RedisBrokerOptions): Promise<RedisBroker> {
    const broker = new RedisBroker(options);
    const timeout = options.connectTimeoutMs ?? 10_000;
    try {
      await withTimeout(Promise.all([broker.cmd.connect(), broker.sub.connect()]), timeout, `Redis at ${redactUrl(options.url)} did not answer within ${timeout} ms`);
      broker.currentEpoch = String(await broker.script(EPOCH, [broker.key('epoch')], [broker.epochCandidate, 'ensure', '']));
      if (broker.currentEpoch === broker.epochCandidate) broker.epochCandidate = newEpoch();
      await broker.sub.subscribe(broker.key(`t:${broker.nodeId}`), (message) => {
        if (!broker.recovering) broker.lastAliveTs = Math.max(broker.lastAliveTs, Number(message));
      });
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
    return this.currentEpoch;
  }

  get status(): 'ok' | 'degraded' {
    return this.cmd.isReady && this.sub.isReady && !this.recovering ? 'ok' : 'degraded';
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
      const args = [topic, dataJson, String(maxMessages), String(maxAgeMs), origin ? `${this.nodeId}/${origin}` : '-', this.currentEpoch, this.epochCandidate, String(maxTopics)];
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
    this.deliveredSweeper.step(DELIVERED_SWEEP_BATCH);
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
      const wanted = this.wantedUpstream();
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
      for (const topic of this.lastDelivered.keys()) if (!this.covered(topic)) this.lastDelivered.delete(topic);
    };
    this.upstreamSync = this.upstreamSync.then(run);
    return this.upstreamSync;
  }

  /** The smallest set of channels and globs covering every local pattern. */
  private wantedUpstream(): Map<string, 'channel' | 'pattern'> {
    const all = this.key('m:*');
    const globs = new Set<string>();
    const channels = new Set<string>();
    for (const pattern of this.patternRefs.keys()) {
      const tokens = pattern.split('.');
      if (!tokens.some((t) => t === '*' || t === '>')) channels.add(this.key(`m:${pattern}`));
      else if (tokens[0] === '*' || tokens[0] === '>') globs.add(all);
      else globs.add(this.key(`m:${tokens[0]}.*`));
    }
    const wanted = new Map<string, 'channel' | 'pattern'>();
    if (globs.has(all)) return wanted.set(all, 'pattern');
    for (const g of globs) wanted.set(g, 'pattern');
    for (const c of channels) if (![...globs].some((g) => c.startsWith(g.slice(0, -1)))) wanted.set(c, 'channel');
    return wanted;
  }

  private covered(topic: string): boolean {
    const channel = this.key(`m:${topic}`);
    for (const [name, kind] of this.upstream) {
      if (kind === 'channel' ? name === channel : channel.startsWith(name.slice(0, -1))) return true;
    }
    return false;
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
    if (epoch !== this.currentEpoch) {
      if (this.retiredEpochs.has(epoch)) return; // published before an epoch change; reset covers it
      this.adoptEpoch(epoch);
    }
    // Messages held during a recovery must not move the "alive until" mark: the recovery reads
    // unseen topics from that mark, and moving it past held messages would skip them for good.
    if (this.recovering) return void this.pending.push(env);
    if (ts > this.lastAliveTs) this.lastAliveTs = ts;
    this.accept(env);
  }

  /** Hand a message to the hub unless it is a duplicate; a gap starts a recovery. */
  private accept(env: Envelope): void {
    let last = this.lastDelivered.get(env.topic)?.seq;
    if (last !== undefined && env.seq <= last) {
      if (env.ts <= this.lastDelivered.get(env.topic)!.ts) return; // a copy (overlapping upstream subscriptions)
      last = undefined; // newer, yet not a higher seq: the topic was forgotten while idle and started over
    }
    if (last !== undefined && env.seq > last + 1) {
      this.recovering = true;
      this.pending.push(env);
      void this.recover();
      return;
    }
    this.lastDelivered.set(env.topic, { seq: env.seq, ts: env.ts });
    this.deliver(env);
  }

  /** Close the gap after a pub/sub reconnect (or a detected gap); runs one at a time. */
  private recover(): Promise<void> {
    this.recovering = true;
    if (this.recovery) {
      this.recoverAgain = true;
      return this.recovery;
    }
    this.recovery = (async () => {
      do {
        this.recoverAgain = false;
        if (this.closed) return;
        if (!this.sub.isReady) return; // the next 'ready' starts over
        try {
          await this.recoverOnce();
        } catch (err) {
          this.log?.warn({ err: (err as Error).message }, 'gap recovery failed; retrying');
          await sleep(250);
          this.recoverAgain = true;
        }
      } while (this.recoverAgain);
    })().finally(() => {
      this.recovery = null;
    });
    return this.recovery;
  }

  private async recoverOnce(): Promise<void> {
    await this.syncUpstream();
    const epoch = String(await this.script(EPOCH, [this.key('epoch')], [this.epochCandidate, 'ensure', '']));
    this.adoptEpoch(epoch);
    await this.presence.reassert();
    const startEpoch = this.currentEpoch;
    const trimmed: string[] = [];
    // Topics this node delivered before: everything after the last seq it delivered.
    for (const [topic, { seq: last, ts: lastTs }] of [...this.lastDelivered]) {
      const page = await this.history(topic, { since: last });
      if (this.currentEpoch !== startEpoch) return void (this.recoverAgain = true);
      if (page.lastSeq < last && (await this.forgottenSince(topic, lastTs))) continue;
      if (page.lastSeq < last) {
        // Same epoch but the counter went back: Redis restarted from an old snapshot.
        this.log?.warn({ topic, last, lastSeq: page.lastSeq }, 'seq went back in Redis; starting a new epoch');
        this.adoptEpoch(String(await this.script(EPOCH, [this.key('epoch')], [this.epochCandidate, 'rotate', this.currentEpoch])));
        return void (this.recoverAgain = true);
      }
      if (page.truncated) trimmed.push(topic);
      this.deliverPage(page.messages);
    }
    // Topics first published while this node was cut off, matching its patterns.
    const patterns = [...this.patternRefs.keys()];
    for (const topic of await this.topics()) {
      if (this.lastDelivered.has(topic) || !patterns.some((p) => matches(p, topic))) continue;
      const page = await this.history(topic, {});
      if (this.currentEpoch !== startEpoch) return void (this.recoverAgain = true);
      this.deliverPage(page.messages.filter((m) => m.ts >= this.lastAliveTs));
    }
    if (trimmed.length > 0) this.lost({ topics: trimmed, reason: 'trimmed' });
    if (this.recoverAgain) return;
    const pending = this.pending;
    this.pending = [];
    this.recovering = false;
    for (const env of pending) {
      if (this.recovering) this.pending.push(env);
      else this.accept(env);
    }
  }

  /**
   * The seq of `topic` went back. If nothing it holds is as old as what this node delivered, the
   * topic was forgotten while idle and started over: deliver its new messages and return true.
   * Otherwise Redis went back to an old snapshot (the caller starts a new epoch).
   */
  private async forgottenSince(topic: string, lastTs: number): Promise<boolean> {
    const page = await this.history(topic, {});
    if (page.messages.some((m) => m.ts <= lastTs)) return false;
    this.lastDelivered.delete(topic);
    this.deliverPage(page.messages);
    return true;
  }

  private deliverPage(messages: Envelope[]): void {
    for (const env of messages) {
      if (env.seq <= (this.lastDelivered.get(env.topic)?.seq ?? 0)) continue;
      this.lastDelivered.set(env.topic, { seq: env.seq, ts: env.ts });
      this.deliver(env);
    }
  }

  /** Switch to the epoch Redis has; everything delivered so far belongs to the old one. */
  private adoptEpoch(epoch: string): void {
    if (epoch === this.currentEpoch || this.retiredEpochs.has(epoch)) return;
    this.retiredEpochs.add(this.currentEpoch);
    if (epoch === this.epochCandidate) this.epochCandidate = newEpoch();
    this.log?.warn({ old: this.currentEpoch, epoch }, 'Redis history was lost: new epoch');
    this.currentEpoch = epoch;
    this.lastDelivered.clear();
    this.lastAliveTs = 0; // every message of the new epoch is one this node has not delivered
    this.lost({ topics: null, reason: 'epoch' });
    void this.presence.reassert().catch(() => {});
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
    await Promise.allSettled([this.cmd.close(), this.sub.close()]);
    this.cmd.destroy();
    this.sub.destroy();
  }
}

/** Cluster-wide nicks in a Redis hash; entries of a node whose heartbeat key expired are void. */
export class RedisPresence implements Presence {
  /** What this node's connections hold, to re-register after Redis lost it. */
  private readonly mine = new Map<string, string>();
  private onExpiredHandler: (nicks: string[]) => void = () => {};

  constructor(private readonly broker: RedisBroker) {}

  private holder(connId: string): string {
    return `${this.broker.nodeId} ${connId}`;
  }

  async claim(nick: string, connId: string): Promise<boolean> {
    const ok = (await this.broker.script(CLAIM, [this.broker.key('nicks')], [nick, this.holder(connId), this.broker.key('node:')])) === 1;
    if (ok) this.mine.set(nick, connId);
    return ok;
  }

  async release(nick: string, connId: string): Promise<void> {
    if (this.mine.get(nick) === connId) this.mine.delete(nick);
    await this.broker.script(RELEASE, [this.broker.key('nicks')], [nick, this.holder(connId)]);
  }

  async list(): Promise<string[]> {
    const nicks = (await this.broker.script(LIST_NICKS, [this.broker.key('nicks')], [this.broker.key('node:')])) as string[];
    return nicks.map(String).sort();
  }

  onExpired(handler: (nicks: string[]) => void): void {
    this.onExpiredHandler = handler;
  }

  expired(nicks: string[]): void {
    this.onExpiredHandler(nicks);
  }

  /** Re-register this node's nicks (after Redis lost them or they expired during an outage). */
  async reassert(): Promise<void> {
    for (const [nick, connId] of this.mine) {
      const ok = (await this.broker.script(CLAIM, [this.broker.key('nicks')], [nick, this.holder(connId), this.broker.key('node:')])) === 1;
      if (!ok) this.mine.delete(nick); // someone else took it meanwhile; theirs now
    }
  }
}

const newEpoch = () => randomBytes(6).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redactUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BrokerUnavailableError(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

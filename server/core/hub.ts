/**
 * The core's registry: who is connected, what they subscribe to, and what they publish. It wires
 * the parts that each do one job: delivery.ts (frame-once fan-out and the one enqueue path),
 * throttle.ts (maxHz), replay.ts (history stitched to live), heartbeat.ts, expiry.ts
 * (credential lifetime), topic-stats.ts, and the broker behind it all.
 */
import type { Logger } from 'pino';
import type { HubConfig } from '../config.ts';
import type { Principal } from './principal.ts';
import { BrokerUnavailableError, TooManyTopicsError, boundPage, type Broker, type Envelope, type HistoryPage, type HistoryQuery, type LostNotice } from '../broker/broker.ts';
import { HubError } from '../../protocol/errors.ts';
import { maxHzProblem } from '../../protocol/limits.ts';
import { matches, topicError } from '../../protocol/topics.ts';
import { guarded } from '../guard.ts';
import { AddressSlots, type AddressSlot } from './address-slots.ts';
import { SharedDeflate, sharedDeflateFor } from './compression.ts';
import { CloseCode, Connection, type Renderer, type Subscription } from './connection.ts';
import { Delivery } from './delivery.ts';
import { CredentialExpiry } from './expiry.ts';
import { Heartbeat } from './heartbeat.ts';
import { BusyMeter } from './busy-meter.ts';
import { Flusher } from './outbox.ts';
import { WsTransport, type Transport } from './transport.ts';
import { goLive, replay, replayAfter, wantsReplay, type ReplayDeps, type ReplayOptions, type ResumeOptions } from './replay.ts';
import { TopicCatalog } from './topic-catalog.ts';
import { TopicStats, type TopicPage, type TopicQuery } from './topic-stats.ts';

export interface SubscribeOptions extends ReplayOptions {
  maxHz?: number;
  /** Render messages as this text instead of the wire JSON (line-mode chat). */
  render?: Renderer;
  /** Skip messages the subscribing connection published itself. */
  skipOwn?: boolean;
  /**
   * Called once the subscription is live (every message published from then on reaches it) and
   * before any message of it is queued, with the hub time read just before it was put in place.
   */
  accepted?: (ts: number) => void;
}

export interface HubCounters {
  /** Messages published through this hub node. */
  messagesIn: number;
  /** Messages queued to subscribers (one per subscriber per message, replays and maxHz releases included). */
  deliveries: number;
  /** Messages replaced by a newer one of their topic for a congested consumer. */
  conflated: number;
  slowConsumerCloses: number;
  bytesOut: number;
}

/** Publishes to one topic that a service handles itself (chat). */
export type PublishRoute = (data: unknown, origin?: Connection) => Promise<Envelope>;

/** A broker that can also publish synchronously (MemoryBroker#publishNow). */
interface SyncPublisher {
  publishNow(topic: string, dataJson: string, origin?: string): Envelope;
}

/** `data` as JSON text; a HubError if it has none (undefined, a function). */
function dataJson(data: unknown): string {
  const json = JSON.stringify(data);
  if (json === undefined) throw new HubError('bad_request', 'data must be JSON');
  return json;
}

/** The HubError for a broker's refusal to publish; other errors pass through. */
function brokerRefusal(err: unknown, topic: string): unknown {
  if (err instanceof BrokerUnavailableError) return new HubError('unavailable', 'the message broker is unreachable; not published, retry');
  if (err instanceof TooManyTopicsError) return new HubError('too_many_topics', `'${topic}' is a new topic and the hub has ${err.message}`);
  return err;
}

/** How often a slice of idle topic counters is forgotten. */
const TOPIC_SWEEP_MS = 250;
/** Event-loop utilization from which the hub counts as busy and batches writes (BUSY_FLUSH_WINDOW_MS). */
const BUSY_UTILIZATION = 0.75;

export class Hub {
  readonly connections = new Set<Connection>();
  /** Totals; conflated and bytesOut here cover closed connections only (see stats()). */
  readonly counters: HubCounters = { messagesIn: 0, deliveries: 0, conflated: 0, slowConsumerCloses: 0, bytesOut: 0 };
  readonly topicStats: TopicStats;
  /** The cluster's topic list, with a shared broker (Redis); null: this node's counters list every topic. */
  private readonly catalog: TopicCatalog | null;
  private readonly delivery: Delivery;
  /** What replays need: the broker, the outbox bound, and delivery's one enqueue path. */
  private readonly replayDeps: ReplayDeps;
  private readonly flusher: Flusher;
  private readonly busyMeter: BusyMeter;
  /** COMPRESSION=shared: the one compressor every connection that negotiated deflate shares. */
  private readonly sharedDeflate: SharedDeflate | null;
  private readonly heartbeat: Heartbeat;
  private readonly expiry: CredentialExpiry;
  /** Connections per remote address, for MAX_CONNECTIONS_PER_IP: reserved at admission, released at detach. */
  private readonly perIp = new AddressSlots();
  private readonly routes = new Map<string, PublishRoute>();
  private readonly detachHooks: ((conn: Connection) => void)[] = [];
  private readonly sweepTimer: ReturnType<typeof setInterval>;
  private readonly startedAt = Date.now();
  /** Set once by startDraining(): /healthz fails and new connections are refused (drain.ts closes the open ones). */
  private drainingSince: number | null = null;
  /** The broker, when it can publish synchronously (the memory broker); null otherwise. */
  private readonly syncBroker: SyncPublisher | null;

  constructor(
    readonly config: HubConfig,
    readonly broker: Broker,
    private readonly log: Logger,
  ) {
    this.syncBroker = typeof (broker as Partial<SyncPublisher>).publishNow === 'function' ? (broker as Broker & SyncPublisher) : null;
    this.busyMeter = new BusyMeter(BUSY_UTILIZATION);
    if (config.busyFlushWindowMs > 0) this.busyMeter.start();
    this.flusher = new Flusher(config.flushWindowMs, config.busyFlushWindowMs, () => this.busyMeter.busy);
    this.sharedDeflate = config.compression === 'shared' ? new SharedDeflate(config.compressionMinBytes) : null;
    this.topicStats = new TopicStats(config.retention);
    this.catalog = broker.shared ? new TopicCatalog(broker, () => this.topicStats.sortedTopics(), config.maxTopics) : null;
    this.expiry = new CredentialExpiry(log, config.jwtExpiryWarningMs);
    this.heartbeat = new Heartbeat(this.connections, config.heartbeatMs, log);
    this.delivery = new Delivery(config, this.counters, this.topicStats, log, broker);
    this.replayDeps = { broker, outboxLimitBytes: config.outboxLimitBytes, enqueue: (s, env, replayed) => this.delivery.enqueueEnvelope(s, env, replayed) };
    broker.onDeliver((env) => this.delivery.deliver(env));
    broker.onLost((notice) => this.onBrokerLost(notice));
    this.sweepTimer = setInterval(guarded(log, 'topic counter sweep', () => this.topicStats.sweep()), TOPIC_SWEEP_MS);
    this.sweepTimer.unref();
  }

  get epoch(): string {
    return this.broker.epoch;
  }

  get nodeId(): string {
    return this.broker.nodeId;
  }

  /** `ok`, or `degraded` while the broker's backend is unreachable. */
  get brokerStatus(): 'ok' | 'degraded' {
    return this.broker.status;
  }

  /** True once the node drains for a restart: balancers and new clients are turned away. */
  get draining(): boolean {
    return this.drainingSince !== null;
  }

  /** Start draining (idempotent): from now on /healthz answers 503 `draining` and upgrades are refused. */
  startDraining(): void {
    this.drainingSince ??= Date.now();
  }

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.startedAt) / 1000);
  }

  // ---- connections ---------------------------------------------------------------------------

  /**
   * Reserve one of `remote`'s MAX_CONNECTIONS_PER_IP slots, synchronously, before any await of the
   * admission: null when they are all taken (by open or still-opening connections).
   */
  reserveConnection(remote: string): AddressSlot | null {
    return this.perIp.take(remote, this.config.maxConnectionsPerIp);
  }

  /** Create and register a connection for an open transport (WebSocket or SSE); it takes over `slot` (from reserveConnection). */
  attach(transport: Transport, mode: Connection['mode'], principal: Principal, slot: AddressSlot): Connection {
    const conn = new Connection(transport, mode, principal, slot, this.config.outboxLimitBytes, this.flusher);
    this.connections.add(conn);
    conn.deflate = transport instanceof WsTransport ? sharedDeflateFor(transport.ws, this.sharedDeflate) : null;
    this.heartbeat.enrol(conn);
    this.expiry.watch(conn);
    return conn;
  }

  /** Forget a closed connection: its slot, its subscriptions, and whatever services keep for it. */
  detach(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    conn.slot.release();
    conn.closed = true;
    const { conflated, bytesOut } = conn.outbox.stats;
    this.counters.conflated += conflated;
    this.counters.bytesOut += bytesOut;
    for (const sub of conn.subs.values()) this.dropSubscription(sub);
    conn.subs.clear();
    for (const hook of this.detachHooks) hook(conn);
  }

  /** Run `hook` for every connection that goes (services clean up their state for it). */
  onDetach(hook: (conn: Connection) => void): void {
    this.detachHooks.push(hook);
  }

  /** The connection's principal changed (the `auth` op): its expiry moves with it. */
  reauthenticated(conn: Connection, principal: Principal): void {
    conn.principal = principal;
    this.expiry.watch(conn);
  }

  /**
   * The broker lost messages it cannot replay live (a new epoch, or a gap already trimmed).
   * Affected connections are closed with 1012: clients reconnect (to any node) and resume, and
   * the resume either fills the gap from history or answers with an explicit `reset`.
   */
  private onBrokerLost({ topics, reason }: LostNotice): void {
    this.log.warn({ topics, reason, epoch: this.epoch }, 'broker lost messages; closing affected connections so they resume');
    for (const conn of this.connections) {
      const affected = topics === null || [...conn.subs.keys()].some((p) => topics.some((t) => matches(p, t)));
      if (affected) conn.close(CloseCode.serviceRestart, reason === 'epoch' ? 'history lost (new epoch); resume' : 'messages lost; resume');
    }
  }

  // ---- publishing ----------------------------------------------------------------------------

  /** Let a service handle every publish to `topic` (chat applies its rule, then calls publishData). */
  routePublish(topic: string, route: PublishRoute): void {
    this.routes.set(topic, route);
  }

  /** Publish a checked message; resolves with its envelope (seq, ts). */
  publish(topic: string, data: unknown, origin?: Connection): Promise<Envelope> {
    const route = this.routes.get(topic);
    return route ? route(data, origin) : this.publishText(topic, dataJson(data), origin);
  }

  /**
   * `publish` with `data` as the text it is delivered as (data-text.ts: a publisher's own JSON,
   * compacted). A routed topic's service gets it parsed.
   */
  async publishJson(topic: string, json: string, origin?: Connection): Promise<Envelope> {
    const route = this.routes.get(topic); // async: whatever throws below rejects, never escapes the caller
    return route ? route(JSON.parse(json), origin) : this.publishText(topic, json, origin);
  }

  /** Publish as is, past any route: the broker assigns the seq and delivers. */
  publishData(topic: string, data: unknown, origin?: Connection): Promise<Envelope> {
    return this.publishText(topic, dataJson(data), origin);
  }

  private async publishText(topic: string, json: string, origin?: Connection): Promise<Envelope> {
    this.counters.messagesIn++;
    try {
      return await this.broker.publish(topic, json, origin?.id);
    } catch (err) {
      throw brokerRefusal(err, topic);
    }
  }

  /** Whether `publishJsonNow` can publish to `topic`: the broker is local and no service routes it. */
  publishesNow(topic: string): boolean {
    return this.syncBroker !== null && !this.routes.has(topic);
  }

  /**
   * `publishJson`, synchronously, when it can be (`publishesNow`): null when it cannot (then call
   * `publishJson`); throws as that rejects. The ingest fast path: no promise round trips between
   * the request and its ack.
   */
  publishJsonNow(topic: string, json: string, origin?: Connection): Envelope | null {
    return this.publishesNow(topic) ? this.publishSync(this.syncBroker!, topic, json, origin) : null;
  }

  private publishSync(broker: SyncPublisher, topic: string, json: string, origin?: Connection): Envelope {
    this.counters.messagesIn++;
    try {
      return broker.publishNow(topic, json, origin?.id);
    } catch (err) {
      throw brokerRefusal(err, topic);
    }
  }

  /** The hub's own messages ($sys telemetry, chat presence lines): no checks, not counted as published. */
  publishOwn(topic: string, data: unknown): Promise<Envelope> {
    return this.broker.publish(topic, JSON.stringify(data));
  }

  // ---- subscriptions -------------------------------------------------------------------------

  /** Subscribe `conn` to `pattern`: `subscribeAll` with one pattern. */
  subscribe(conn: Connection, pattern: string, options: SubscribeOptions = {}): Promise<void> {
    return this.subscribeAll(conn, [pattern], options);
  }

  /**
   * Subscribe `conn` to every pattern (a tap's, an SSE stream's). `accepted` is called once all of
   * them are live, i.e. every message published from then on reaches the connection, and before
   * any message of theirs is queued: messages that arrive meanwhile wait and follow it. With
   * `snapshot`, `since` or `sinceTs`, history comes next, then what was buffered, without gap or
   * duplicate (replay.ts). Resolves when live delivery has begun. Rejects, with nothing left
   * subscribed and `accepted` not called, when any pattern is refused or the broker could not put
   * it in place (HubError `unavailable`). A replay that fails later closes the connection 1011.
   */
  async subscribeAll(conn: Connection, patterns: readonly string[], options: SubscribeOptions = {}): Promise<void> {
    const acceptedAt = this.broker.now(); // before any subscription: nothing missed is older
    const subs = await this.register(conn, patterns, options);
    if (conn.closed) return;
    options.accepted?.(acceptedAt);
    if (!wantsReplay(options)) {
      for (const sub of subs) goLive(sub, new Map(), this.replayDeps);
      return;
    }
    try {
      await Promise.all(subs.map((sub) => replay(sub, options, this.replayDeps)));
    } catch (err) {
      // Replying twice is not allowed; closing makes the client reconnect and resume.
      this.logError(err, conn);
      conn.close(1011, 'replay failed');
    }
  }

  /**
   * Subscribe `conn` to every pattern at once and resume them from a global position (an SSE
   * stream's Last-Event-ID): `accepted` once all are live (as for subscribeAll), then one replay
   * merged across all their topics in pos order (replay.ts), then live, without gap or duplicate.
   */
  async resume(conn: Connection, patterns: readonly string[], options: ResumeOptions & Pick<SubscribeOptions, 'maxHz' | 'accepted'>): Promise<void> {
    const acceptedAt = this.broker.now();
    const subs = await this.register(conn, patterns, options);
    if (conn.closed) return;
    options.accepted?.(acceptedAt);
    try {
      await replayAfter(subs, options, this.replayDeps);
    } catch (err) {
      this.logError(err, conn);
      conn.close(1011, 'replay failed');
    }
  }

  /**
   * Register a buffering subscription per pattern and wait until the broker has every one live.
   * On any failure, withdraws those it registered (each broker subscribe is matched by an
   * unsubscribe) and rethrows; a broker that could not subscribe becomes HubError `unavailable`.
   */
  private async register(conn: Connection, patterns: readonly string[], options: SubscribeOptions): Promise<Subscription[]> {
    const subs: Subscription[] = [];
    const live: Promise<void>[] = [];
    try {
      for (const pattern of patterns) {
        subs.push(this.addSubscription(conn, pattern, options));
        live.push(this.broker.subscribe(pattern));
      }
      await Promise.all(live);
      return subs;
    } catch (err) {
      for (const sub of subs) this.withdraw(sub);
      if (err instanceof BrokerUnavailableError) throw new HubError('unavailable', `the message broker could not subscribe: ${err.message}`);
      throw err;
    }
  }

  /** Remove a subscription unless it is already gone (the connection closed, or a newer one replaced it). */
  private withdraw(sub: Subscription): void {
    if (sub.conn.subs.get(sub.pattern) !== sub) return;
    sub.conn.subs.delete(sub.pattern);
    this.dropSubscription(sub);
  }

  /**
   * Check and register one subscription (replacing the connection's own of the same pattern). It
   * buffers what it receives until it goes live (goLive, or the end of its replay).
   */
  private addSubscription(conn: Connection, pattern: string, options: Pick<SubscribeOptions, 'maxHz' | 'render' | 'skipOwn'>): Subscription {
    if (conn.closed) throw new HubError('unavailable', 'connection closed'); // detach has run: nothing would remove it
    const problem = topicError(pattern, true);
    if (problem) throw new HubError('bad_topic', problem);
    const maxHz = options.maxHz ?? 0;
    const badHz = maxHzProblem(maxHz);
    if (badHz) throw new HubError('bad_request', badHz);
    const existing = conn.subs.get(pattern);
    if (!existing && conn.subs.size >= this.config.maxSubscriptionsPerConnection) {
      throw new HubError('too_many_subscriptions', `at most ${this.config.maxSubscriptionsPerConnection} subscriptions per connection (MAX_SUBSCRIPTIONS)`);
    }
    if (existing) this.dropSubscription(existing);
    const sub: Subscription = {
      conn,
      pattern,
      render: options.render ?? null,
      skipOwn: options.skipOwn ?? false,
      maxHz,
      replayBuffer: [],
      floor: null,
      throttle: maxHz > 0 ? new Map() : null,
    };
    conn.subs.set(pattern, sub);
    this.delivery.index.add(pattern, sub);
    return sub;
  }

  unsubscribe(conn: Connection, pattern: string): boolean {
    const sub = conn.subs.get(pattern);
    if (!sub) return false;
    conn.subs.delete(pattern);
    this.dropSubscription(sub);
    return true;
  }

  private dropSubscription(sub: Subscription): void {
    this.delivery.remove(sub);
    this.broker.unsubscribe(sub.pattern).catch((err) => this.log.warn({ err, pattern: sub.pattern }, 'broker unsubscribe failed'));
  }

  /** A page of one topic's history, at most MAX_HISTORY_BYTES of messages; `more` says the page stopped short. */
  async history(topic: string, query: HistoryQuery): Promise<HistoryPage & { more: boolean }> {
    const problem = topicError(topic);
    if (problem) throw new HubError('bad_topic', problem);
    return boundPage(await this.broker.history(topic, query), this.config.maxHistoryBytes);
  }

  // ---- stats ---------------------------------------------------------------------------------

  /** Hub-wide totals, open connections included. */
  stats(): HubCounters & { connections: number; subscriptions: number; epoch: string } {
    let { conflated, bytesOut } = this.counters;
    for (const conn of this.connections) {
      const outbox = conn.outbox.stats;
      conflated += outbox.conflated;
      bytesOut += outbox.bytesOut;
    }
    return { ...this.counters, conflated, bytesOut, connections: this.connections.size, subscriptions: this.delivery.index.size, epoch: this.epoch };
  }

  /**
   * One page of the topics, sorted by name, with this node's subscriber counts, messages and
   * rates (zeros where it has none). With a shared broker (Redis) every topic of the cluster is
   * listed (topic-catalog.ts, at most a second old); otherwise those this node has counted.
   */
  async topics(query: TopicQuery = {}): Promise<TopicPage> {
    const keys = this.catalog ? await this.catalog.sorted() : undefined;
    return this.topicStats.page(query, (topic) => this.delivery.index.match(topic).length, keys);
  }

  /** Log an unexpected error with the connection it happened on. */
  logError(err: unknown, conn?: Connection): void {
    this.log.error({ err, conn: conn?.id, mode: conn?.mode }, 'unexpected error');
  }

  /** Close every connection with 1001 and stop timers. */
  close(): void {
    clearInterval(this.sweepTimer);
    this.busyMeter.stop();
    this.heartbeat.stop();
    this.expiry.clear();
    this.delivery.throttle.clear();
    this.flusher.flushNow();
    for (const conn of this.connections) conn.close(CloseCode.goingAway, 'hub shutting down');
  }
}

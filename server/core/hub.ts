/**
 * The core: who is subscribed to what, and fan-out. A message from the broker is framed once and
 * the same Buffer is queued to every matching connection; nothing per subscriber but the append.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { HubConfig, OverflowPolicy } from '../config.ts';
import { canPublish, type Principal } from '../auth.ts';
import { BrokerUnavailableError, TooManyTopicsError, forgetAfterMs, type Broker, type Envelope, type HistoryPage, type HistoryQuery, type LostNotice } from '../broker/broker.ts';
import { MapSweeper } from '../broker/map-sweep.ts';
import { HubError } from '../../protocol/errors.ts';
import { maxHzProblem } from '../../protocol/limits.ts';
import type { ChatData, ResetFrame, SinceSpec } from '../../protocol/wire.ts';
import { checkChatData, escapeControls, nickProblem } from '../../protocol/chat.ts';
import { CloseCode, Connection, type RenderFormat, type Subscription, type ThrottleState } from './connection.ts';
import { DueQueue } from './due-queue.ts';
import { Flusher, frameText } from './outbox.ts';
import { isPattern, isSysTopic, matches, topicError } from '../../protocol/topics.ts';
import { SubscriptionIndex } from './subscription-index.ts';
import { guarded } from '../guard.ts';
import { AddressSlots, type AddressSlot } from './address-slots.ts';

export interface SubscribeOptions {
  snapshot?: number;
  since?: SinceSpec;
  /** Replay topics matching the pattern that `since` does not list, from this hub time (ms). */
  sinceTs?: number;
  epoch?: string;
  maxHz?: number;
  format?: RenderFormat;
  /** Called once the subscription is in place, before any replayed message is queued, with the hub time it took effect. */
  accepted?: (ts: number) => void;
}

export interface TopicInfo {
  topic: string;
  subscribers: number;
  messages: number;
  /** Messages per second over the last second. */
  rate: number;
}

export interface HubCounters {
  /** Messages published through this hub node. */
  messagesIn: number;
  /** Messages queued to subscribers (one per subscriber per message). */
  deliveries: number;
  /** Messages replaced by a newer one of their topic for a congested consumer. */
  conflated: number;
  slowConsumerCloses: number;
  bytesOut: number;
}

/** A page of `topics()`: sorted by name, `next` is the `after` of the next page when there is one. */
export interface TopicQuery {
  /** Only topics starting with this. */
  prefix?: string;
  /** Only topics sorting after this one (the previous page's `next`). */
  after?: string;
  limit?: number;
}

export interface TopicPage {
  topics: TopicInfo[];
  /** Topics this hub counts, all prefixes. */
  total: number;
  next?: string;
}

/** Default and largest page of `topics()` (GET /api/topics). */
export const TOPIC_PAGE_DEFAULT = 500;
export const TOPIC_PAGE_MAX = 5000;

interface TopicCounter {
  messages: number;
  deliveries: number;
  /** Messages in the current wall-clock second `second`, and in the one before. */
  second: number;
  thisSecond: number;
  lastSecond: number;
  /** When the last message came (ms), and how long the counter outlives it (the topic's retention). */
  lastAt: number;
  forgetAfterMs: number;
}

/** Live messages a subscription may buffer while its replay is being sent. */
const MAX_REPLAY_BUFFER = 100_000;
/** The topic-counter sweep visits this many counters every TOPIC_SWEEP_MS. */
const TOPIC_SWEEP_BATCH = 5_000;
const TOPIC_SWEEP_MS = 250;
/** What one throttled topic's state costs besides its held frame, counted toward OUTBOX_LIMIT_BYTES. */
const THROTTLE_ENTRY_BYTES = 64;

interface ThrottleDue {
  sub: Subscription;
  topic: string;
  state: ThrottleState;
}
/** The heartbeat visits 1/HEARTBEAT_SLICES of the connections every HEARTBEAT_MS/HEARTBEAT_SLICES. */
const HEARTBEAT_SLICES = 10;

export class Hub {
  readonly connections = new Set<Connection>();
  /** Totals; conflated and bytesOut here cover closed connections only (see stats()). */
  readonly counters: HubCounters = { messagesIn: 0, deliveries: 0, conflated: 0, slowConsumerCloses: 0, bytesOut: 0 };
  private readonly index = new SubscriptionIndex<Subscription>();
  private readonly flusher: Flusher;
  private readonly policyCache = new Map<string, OverflowPolicy>();
  private readonly topicCounts = new Map<string, TopicCounter>();
  /** Counters of idle topics go, a bounded slice per tick. */
  private readonly topicSweeper = new MapSweeper(this.topicCounts, (_, c) => Date.now() - c.lastAt >= c.forgetAfterMs, () => (this.sortedTopics = null));
  /** topicCounts' keys sorted, built on demand; null after a topic came or went. */
  private sortedTopics: string[] | null = null;
  /** This node's chat members (nick -> connection); the cluster-wide registry is broker.presence. */
  private readonly chatUsers = new Map<string, Connection>();
  /** maxHz states by the time they fall due. */
  private readonly throttleDue: DueQueue<ThrottleDue>;
  /** Connections per remote address, for MAX_CONNECTIONS_PER_IP: reserved at admission, released at detach. */
  private readonly perIp = new AddressSlots();
  private readonly slotOf = new WeakMap<Connection, AddressSlot>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private stamp = 0;
  private heartbeatTick = 0;
  private attached = 0;
  private readonly startedAt = Date.now();
  private guestCounter = 0;
  /** Credential expiries of every connection, behind one timer; stale entries are skipped. */
  private readonly expiries: DueQueue<{ conn: Connection; at: number }>;

  constructor(
    readonly config: HubConfig,
    readonly broker: Broker,
    private readonly log: Logger,
  ) {
    this.flusher = new Flusher(config.flushWindowMs);
    this.expiries = new DueQueue(log, 'credential expiry', (entry) => this.expire(entry.conn, entry.at));
    this.throttleDue = new DueQueue(log, 'maxHz release', (due) => this.releaseThrottled(due));
    broker.onDeliver((env) => this.deliver(env));
    broker.onLost((notice) => this.onBrokerLost(notice));
    broker.presence.onExpired((nicks) => {
      for (const nick of nicks) this.announce(nick, 'left', 'leave');
    });
    this.timers.push(setInterval(guarded(log, 'heartbeat', () => this.heartbeat()), config.heartbeatMs / HEARTBEAT_SLICES).unref());
    this.timers.push(setInterval(guarded(log, 'topic counter sweep', () => this.topicSweeper.step(TOPIC_SWEEP_BATCH)), TOPIC_SWEEP_MS).unref());
  }

  get epoch(): string {
    return this.broker.epoch;
  }

  get nodeId(): string {
    return this.broker.nodeId;
  }

  uptimeSeconds(): number {
    return Math.round((Date.now() - this.startedAt) / 1000);
  }

  /** Create and register a connection for an upgraded socket; it takes over `slot` (from reserveConnection). */
  attach(ws: Connection['ws'], mode: Connection['mode'], principal: Principal, slot: AddressSlot): Connection {
    const conn = new Connection(ws, mode, principal, slot.remote, this.config.outboxLimitBytes, this.flusher);
    conn.heartbeatSlot = this.attached++ % HEARTBEAT_SLICES;
    this.connections.add(conn);
    this.slotOf.set(conn, slot);
    ws.on('pong', () => (conn.alive = true));
    return conn;
  }

  /** Forget a closed connection: its subscriptions and its chat presence. */
  detach(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    this.slotOf.get(conn)?.release();
    conn.closed = true;
    this.counters.conflated += conn.outbox.stats.conflated;
    this.counters.bytesOut += conn.outbox.stats.bytesOut;
    for (const sub of conn.subs.values()) this.dropSubscription(sub);
    conn.subs.clear();
    // Every nick it holds, not only the current one; claims still in flight release themselves.
    for (const nick of conn.nicks) {
      const current = nick === conn.nick && this.chatUsers.get(nick) === conn;
      if (this.chatUsers.get(nick) === conn) this.chatUsers.delete(nick);
      this.releaseNick(conn, nick).then(() => current && this.announce(nick, 'left', 'leave'));
    }
  }

  // ---- credential lifetime -------------------------------------------------------------------

  /** Close `conn` when its credential expires (call on open and whenever its principal changes). */
  watchExpiry(conn: Connection): void {
    const at = conn.principal.expiresAt;
    if (at === undefined || conn.closed) return;
    this.expiries.add(performance.now() + (at - Date.now()), { conn, at });
  }

  /** An expiry fell due; it is stale if the connection has since moved on to another credential. */
  private expire(conn: Connection, at: number): void {
    if (conn.closed || conn.principal.expiresAt !== at) return;
    const message = 'your credential expired; reconnect with a fresh token (app mode: send auth with a fresh token before it expires)';
    if (conn.mode === 'line') conn.sendText(`! ${message}`);
    else conn.sendJson({ op: 'error', code: 'token_expired', message });
    conn.close(CloseCode.credentialExpired, 'credential expired');
  }

  /** `ok`, or `degraded` while the broker's backend is unreachable. */
  get brokerStatus(): 'ok' | 'degraded' {
    return this.broker.status;
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

  /**
   * Reserve one of `remote`'s MAX_CONNECTIONS_PER_IP slots, synchronously, before any await of the
   * admission: null when they are all taken (by open or still-opening connections).
   */
  reserveConnection(remote: string): AddressSlot | null {
    return this.perIp.take(remote, this.config.maxConnectionsPerIp);
  }

  /** Check that `principal` may publish to `topic`; returns the topic. */
  checkPublish(topic: unknown, principal: Principal): string {
    const problem = topicError(topic);
    if (problem !== null || typeof topic !== 'string') throw new HubError('bad_topic', problem ?? 'bad topic');
    if (isSysTopic(topic)) throw new HubError('forbidden', '$sys topics are published by the hub only');
    if (!canPublish(principal, topic)) {
      throw new HubError(
        'forbidden',
        topic === 'chat'
          ? `role ${principal.role} may not chat (operator or above)`
          : `role ${principal.role} may not publish to '${topic}' (needs a publisher credential covering it: ?token=, the auth op, or Bearer)`,
      );
    }
    return topic;
  }

  /** Publish a checked message; resolves with its envelope (seq, ts). Chat goes through the chat rule. */
  async publish(topic: string, data: unknown, origin?: Connection): Promise<Envelope> {
    if (topic === 'chat') return this.publishChat(data, origin);
    return this.publishData(topic, data, origin);
  }

  private async publishData(topic: string, data: unknown, origin?: Connection): Promise<Envelope> {
    const json = JSON.stringify(data);
    if (json === undefined) throw new HubError('bad_request', 'data must be JSON');
    this.counters.messagesIn++;
    try {
      return await this.broker.publish(topic, json, origin?.id);
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw new HubError('unavailable', 'the message broker is unreachable; not published, retry');
      if (err instanceof TooManyTopicsError) throw new HubError('too_many_topics', `'${topic}' is a new topic and the hub has ${err.message}`);
      throw err;
    }
  }

  /**
   * Chat `{nick?, text}` under the chat rule. A nick held by someone is theirs: line-mode clients
   * speak under their own; an app-mode client speaking under a nick claims it for its connection
   * (a guest nick if it names none); an HTTP post may use a nick only while nobody holds it.
   */
  private async publishChat(data: unknown, origin?: Connection): Promise<Envelope> {
    const checked = checkChatData(data);
    if (!checked.ok) throw new HubError('bad_request', checked.problem);
    const { text } = checked.chat;
    if (origin?.mode === 'line') {
      if (!origin.nick) throw new HubError('unavailable', 'not in chat yet; try again');
      return this.publishData('chat', { nick: origin.nick, text } satisfies ChatData, origin);
    }
    if (origin) {
      const wanted = checked.chat.nick;
      const nick = await this.inNickOrder(origin, async () => {
        if (wanted === undefined) return origin.nick ?? (await this.claimGuest(origin));
        if (wanted !== origin.nick) await this.rename(origin, wanted);
        return wanted;
      });
      return this.publishData('chat', { nick, text } satisfies ChatData, origin);
    }
    const nick = checked.chat.nick ?? 'anonymous';
    if (!(await this.unavailableAsRefusal(() => this.broker.presence.claim(nick, HTTP_SPEAKER)))) {
      throw new HubError('forbidden', `nick '${nick}' is held by a chat user; pick another`);
    }
    // A check, not a hold: two HTTP posts under one free nick both pass.
    await this.broker.presence.release(nick, HTTP_SPEAKER).catch((err) => this.log.warn({ err, nick }, 'presence release failed'));
    return this.publishData('chat', { nick, text } satisfies ChatData);
  }

  // ---- fan-out -------------------------------------------------------------------------------

  private deliver(env: Envelope): void {
    const counter = this.countTopic(env.topic);
    const subs = this.index.match(env.topic);
    if (subs.length === 0) return;
    const deliveriesBefore = this.counters.deliveries;
    const stamp = ++this.stamp;
    const policy = this.policyFor(env.topic);
    let frame: Buffer | undefined;
    let chatLine: Buffer | undefined;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      const conn = sub.conn;
      if (conn.lastStamp === stamp) continue; // already queued via an overlapping pattern
      conn.lastStamp = stamp;
      if (sub.replayBuffer) {
        this.bufferDuringReplay(sub, env);
        continue;
      }
      if (sub.floor && this.belowFloor(sub, env)) continue;
      let out: Buffer;
      if (sub.format === 'chat-line') {
        if (env.origin === conn.id) continue; // chat is not echoed to its sender
        out = chatLine ??= frameText(renderChatLine(env));
      } else {
        out = frame ??= frameText(env.json);
      }
      if (sub.throttle && !this.throttleAdmits(sub, env.topic, out)) continue;
      if (conn.pushMessage(out, env.topic, policy) === 'overflow') this.counters.slowConsumerCloses++;
      this.counters.deliveries++;
    }
    counter.deliveries += this.counters.deliveries - deliveriesBefore;
  }

  private policyFor(topic: string): OverflowPolicy {
    let policy = this.policyCache.get(topic);
    if (!policy) {
      policy = this.config.overflowPolicies.find((r) => matches(r.pattern, topic))?.policy ?? 'disconnect';
      if (this.policyCache.size > 10_000) this.policyCache.clear();
      this.policyCache.set(topic, policy);
    }
    return policy;
  }

  /** True if the replay already sent `env`; the first newer message of a topic lifts its floor. */
  private belowFloor(sub: Subscription, env: Envelope): boolean {
    const floor = sub.floor!.get(env.topic);
    if (floor === undefined) return false;
    if (env.seq <= floor) return true;
    sub.floor!.delete(env.topic);
    if (sub.floor!.size === 0) sub.floor = null;
    return false;
  }

  private bufferDuringReplay(sub: Subscription, env: Envelope): void {
    sub.replayBuffer!.push(env);
    if (sub.replayBuffer!.length > MAX_REPLAY_BUFFER) {
      this.counters.slowConsumerCloses++;
      sub.conn.close(CloseCode.policy, 'slow consumer (replay)');
    }
  }

  // ---- maxHz ---------------------------------------------------------------------------------
  //
  // A throttled subscription keeps a ThrottleState per topic it sent within the last 1/maxHz s.
  // Each state has exactly one entry in `throttleDue`, at its `nextAt`: when due, the latest
  // held frame (if any) is sent and the state is scheduled again; with nothing held the state
  // is forgotten. So the cost is per message and per due send, never per held topic per tick.

  /** True if the frame may go now; otherwise it is held back as the topic's latest value. */
  private throttleAdmits(sub: Subscription, topic: string, frame: Buffer): boolean {
    const state = sub.throttle!.get(topic);
    if (state) {
      this.hold(sub, state, frame);
      return false;
    }
    const fresh: ThrottleState = { nextAt: performance.now() + 1000 / sub.maxHz, held: null, bytes: topic.length + THROTTLE_ENTRY_BYTES };
    sub.throttle!.set(topic, fresh);
    sub.conn.throttledBytes += fresh.bytes;
    this.throttleDue.add(fresh.nextAt, { sub, topic, state: fresh });
    this.checkThrottleBudget(sub);
    return !sub.conn.closed;
  }

  private hold(sub: Subscription, state: ThrottleState, frame: Buffer): void {
    const before = state.bytes;
    state.bytes += frame.length - (state.held?.length ?? 0);
    state.held = frame;
    sub.conn.throttledBytes += state.bytes - before;
    this.checkThrottleBudget(sub);
  }

  /** Held-back messages count toward the connection's OUTBOX_LIMIT_BYTES; beyond it the connection is closed. */
  private checkThrottleBudget(sub: Subscription): void {
    const conn = sub.conn;
    if (conn.throttledBytes <= this.config.outboxLimitBytes) return;
    this.counters.slowConsumerCloses++;
    conn.close(CloseCode.policy, `maxHz holds more than OUTBOX_LIMIT_BYTES (${this.config.outboxLimitBytes})`);
    this.dropThrottle(sub);
  }

  /** A throttled topic fell due: send what it holds through the live path, or forget it. */
  private releaseThrottled({ sub, topic, state }: ThrottleDue): void {
    const conn = sub.conn;
    if (conn.closed || conn.subs.get(sub.pattern) !== sub || sub.throttle?.get(topic) !== state) return; // stale
    const frame = state.held;
    if (!frame) {
      sub.throttle.delete(topic);
      conn.throttledBytes -= state.bytes;
      return;
    }
    state.held = null;
    conn.throttledBytes -= frame.length;
    state.bytes -= frame.length;
    state.nextAt = performance.now() + 1000 / sub.maxHz;
    this.throttleDue.add(state.nextAt, { sub, topic, state });
    if (conn.pushMessage(frame, topic, this.policyFor(topic)) === 'overflow') this.counters.slowConsumerCloses++;
    this.counters.deliveries++;
    const counter = this.topicCounts.get(topic);
    if (counter) counter.deliveries++;
  }

  /** Forget a subscription's maxHz state (its queue entries turn stale). */
  private dropThrottle(sub: Subscription): void {
    if (!sub.throttle) return;
    for (const state of sub.throttle.values()) sub.conn.throttledBytes -= state.bytes;
    sub.throttle.clear();
  }

  // ---- subscriptions -------------------------------------------------------------------------

  /**
   * Subscribe `conn` to `pattern`. With `snapshot` or `since`, history is sent first and live
   * messages published meanwhile are buffered, then sent without gap or duplicate. A `since`
   * that cannot be honoured (other epoch, trimmed) gets a `reset` frame and a fresh snapshot.
   */
  async subscribe(conn: Connection, pattern: string, options: SubscribeOptions = {}): Promise<void> {
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
    const wantsReplay = (options.snapshot ?? 0) > 0 || options.since !== undefined || options.sinceTs !== undefined;
    const sub: Subscription = {
      conn,
      pattern,
      format: options.format ?? 'json',
      maxHz,
      replayBuffer: wantsReplay ? [] : null,
      floor: null,
      throttle: maxHz > 0 ? new Map() : null,
    };
    conn.subs.set(pattern, sub);
    this.index.add(pattern, sub);
    const acceptedAt = this.broker.now(); // the clock message ts come from (Redis time with Redis)
    await this.broker.subscribe(pattern);
    options.accepted?.(acceptedAt);
    if (!wantsReplay) return;
    try {
      await this.replay(sub, options);
    } catch (err) {
      // Replying twice is not allowed; closing makes the client reconnect and resume.
      this.logError(err, conn);
      conn.close(1011, 'replay failed');
    }
  }

  /** A page of one topic's history, at most MAX_HISTORY_BYTES of messages; `more` says the page stopped short. */
  async history(topic: string, query: HistoryQuery): Promise<HistoryPage & { more: boolean }> {
    const problem = topicError(topic);
    if (problem) throw new HubError('bad_topic', problem);
    return boundPage(await this.broker.history(topic, query), this.config.maxHistoryBytes);
  }

  /** Log an unexpected error with the connection it happened on. */
  logError(err: unknown, conn?: Connection): void {
    this.log.error({ err, conn: conn?.id, mode: conn?.mode }, 'unexpected error');
  }

  unsubscribe(conn: Connection, pattern: string): boolean {
    const sub = conn.subs.get(pattern);
    if (!sub) return false;
    conn.subs.delete(pattern);
    this.dropSubscription(sub);
    return true;
  }

  private dropSubscription(sub: Subscription): void {
    this.index.remove(sub.pattern, sub);
    this.dropThrottle(sub);
    this.broker.unsubscribe(sub.pattern).catch((err) => this.log.warn({ err, pattern: sub.pattern }, 'broker unsubscribe failed'));
  }

  private async replay(sub: Subscription, options: SubscribeOptions): Promise<void> {
    const { conn } = sub;
    const sent = new Map<string, number>();
    const since = options.since;
    const topics = new Set(isPattern(sub.pattern) ? await this.broker.topics(sub.pattern) : [sub.pattern]);
    if (since !== undefined && typeof since === 'object') {
      for (const t of Object.keys(since)) if (matches(sub.pattern, t)) topics.add(t);
    }
    const epochOk = options.epoch === undefined || options.epoch === this.epoch;
    for (const topic of topics) {
      if (conn.closed) return;
      const after = typeof since === 'number' ? since : since?.[topic];
      let page;
      if (after !== undefined) {
        page = epochOk ? await this.broker.history(topic, { since: after }) : null;
        // The epoch can change while running (Redis lost its data): the page says which it is.
        if (page && options.epoch !== undefined && page.epoch !== options.epoch) page = null;
        if (!page || page.truncated || after > page.lastSeq) {
          this.sendReset(conn, topic, page ? 'trimmed' : 'epoch');
          page = await this.broker.history(topic, { limit: options.snapshot });
        } else {
          sent.set(topic, after); // the client has these already, whichever way they come
        }
      } else if (options.sinceTs !== undefined && epochOk) {
        page = await this.historySinceTs(conn, topic, options.sinceTs);
      } else {
        page = await this.broker.history(topic, { limit: options.snapshot ?? 0 });
      }
      for (const env of page.messages) {
        conn.sendText(sub.format === 'chat-line' ? renderChatLine(env) : env.json);
        sent.set(topic, env.seq);
      }
      // Pace big replays by the socket, so they never blow the outbox bound.
      if (conn.outbox.depth > this.config.outboxLimitBytes / 2) await conn.drained();
    }
    const buffered = sub.replayBuffer ?? [];
    sub.replayBuffer = null;
    sub.floor = sent.size > 0 ? sent : null;
    for (const env of buffered) {
      if (env.seq <= (sent.get(env.topic) ?? 0)) continue; // already part of the replay
      if (sub.format === 'chat-line') {
        if (env.origin !== conn.id) conn.pushMessage(frameText(renderChatLine(env)), env.topic, this.policyFor(env.topic));
      } else {
        conn.pushMessage(frameText(env.json), env.topic, this.policyFor(env.topic));
      }
    }
  }

  /**
   * Messages of a topic the client never saw, published at or after `sinceTs`. If the oldest
   * retained message is newer than that and is not the topic's first, some may have been
   * trimmed: say so.
   */
  private async historySinceTs(conn: Connection, topic: string, sinceTs: number) {
    const page = await this.broker.history(topic, {});
    const oldest = page.messages[0];
    if (oldest && oldest.seq > 1 && oldest.ts > sinceTs) this.sendReset(conn, topic, 'trimmed');
    return { ...page, messages: page.messages.filter((m) => m.ts >= sinceTs) };
  }

  private sendReset(conn: Connection, topic: string, reason: ResetFrame['reason']): void {
    const reset: ResetFrame = { op: 'reset', topic, epoch: this.epoch, reason };
    conn.sendJson(reset);
  }

  // ---- chat presence -------------------------------------------------------------------------

  /** Give a line-mode connection a guest nick, unique across the cluster, and join it to chat. */
  joinChat(conn: Connection): Promise<string> {
    return this.inNickOrder(conn, () => this.claimGuest(conn));
  }

  /** Rename; throws a refusal if the nick is taken (on any node) or malformed. Renames of one connection run in order. */
  renameInChat(conn: Connection, nick: string): Promise<void> {
    return this.inNickOrder(conn, () => this.rename(conn, nick));
  }

  /**
   * Run nick changes of one connection one after another: interleaved claims would leave nicks
   * held that `conn.nick` no longer names.
   */
  private inNickOrder<T>(conn: Connection, fn: () => Promise<T>): Promise<T> {
    const run = conn.nickQueue.then(() => {
      if (conn.closed) throw new HubError('unavailable', 'connection closed');
      return fn();
    });
    conn.nickQueue = run.then(noop, noop);
    return run;
  }

  private async claimGuest(conn: Connection): Promise<string> {
    let nick: string;
    let attempts = 0;
    do nick = ++attempts > 50 ? `guest-${randomBytes(3).toString('hex')}` : `guest-${++this.guestCounter}`;
    while (!conn.closed && (this.chatUsers.has(nick) || !(await this.claimNick(nick, conn))));
    if (conn.closed) return nick; // claimNick gave it back (or never got it)
    conn.nick = nick;
    this.chatUsers.set(nick, conn);
    this.announce(nick, 'joined', 'join');
    return nick;
  }

  private async rename(conn: Connection, nick: string): Promise<void> {
    const bad = nickProblem(nick);
    if (bad) throw new HubError('bad_request', bad);
    const old = conn.nick;
    if (old === nick) return;
    if (!(await this.claimNick(nick, conn))) throw new HubError('bad_request', `nick '${nick}' is taken`);
    if (conn.closed) return this.releaseNick(conn, nick);
    if (old && this.chatUsers.get(old) === conn) this.chatUsers.delete(old);
    if (old) await this.releaseNick(conn, old);
    conn.nick = nick;
    this.chatUsers.set(nick, conn);
    if (old) this.announce(nick, `was ${old}`, 'nick');
    else this.announce(nick, 'joined', 'join');
  }

  /** Everyone in chat, on every node. */
  async chatNicks(): Promise<string[]> {
    return this.unavailableAsRefusal(() => this.broker.presence.list());
  }

  /** Claim `nick` for `conn`; a claim that lands after the connection closed is given back. */
  private async claimNick(nick: string, conn: Connection): Promise<boolean> {
    const ok = await this.unavailableAsRefusal(() => this.broker.presence.claim(nick, conn.id));
    if (ok) conn.nicks.add(nick);
    if (ok && conn.closed) {
      await this.releaseNick(conn, nick);
      return false;
    }
    return ok;
  }

  /** Give `nick` back; never rejects (a failure is logged, and presence expiry covers it). */
  private async releaseNick(conn: Connection, nick: string): Promise<void> {
    conn.nicks.delete(nick);
    await this.broker.presence.release(nick, conn.id).catch((err) => this.log.warn({ err, nick }, 'presence release failed'));
  }

  private async unavailableAsRefusal<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BrokerUnavailableError) throw new HubError('unavailable', 'the message broker is unreachable; try again');
      throw err;
    }
  }

  private announce(nick: string, text: string, kind: ChatData['kind']): void {
    this.broker.publish('chat', JSON.stringify({ nick, text, kind })).catch((err) => this.log.warn({ err }, 'presence publish failed'));
  }

  // ---- stats ---------------------------------------------------------------------------------

  private countTopic(topic: string): TopicCounter {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    let c = this.topicCounts.get(topic);
    if (!c) {
      const rule = this.config.retention.find((r) => matches(r.pattern, topic));
      const forget = forgetAfterMs(rule?.maxMessages ?? 0, (rule?.maxAgeSeconds ?? 0) * 1000);
      c = { messages: 0, deliveries: 0, second, thisSecond: 0, lastSecond: 0, lastAt: now, forgetAfterMs: forget };
      this.topicCounts.set(topic, c);
      this.sortedTopics = null;
    }
    if (c.second !== second) {
      c.lastSecond = c.second === second - 1 ? c.thisSecond : 0;
      c.thisSecond = 0;
      c.second = second;
    }
    c.messages++;
    c.thisSecond++;
    c.lastAt = now;
    return c;
  }

  /** Raw per-topic counters, for metrics. */
  topicCounters(): ReadonlyMap<string, Readonly<TopicCounter>> {
    return this.topicCounts;
  }

  /** Topics this hub keeps counters for (idle ones are forgotten). */
  get topicCount(): number {
    return this.topicCounts.size;
  }

  /** Messages per second over the last full second (computed when read, so no timer walks every topic). */
  private rateOf(c: TopicCounter): number {
    const second = Math.floor(Date.now() / 1000);
    if (c.second === second) return c.lastSecond;
    return c.second === second - 1 ? c.thisSecond : 0;
  }

  /** Hub-wide totals, open connections included. */
  stats(): HubCounters & { connections: number; subscriptions: number; epoch: string } {
    let { conflated, bytesOut } = this.counters;
    for (const conn of this.connections) {
      conflated += conn.outbox.stats.conflated;
      bytesOut += conn.outbox.stats.bytesOut;
    }
    return { ...this.counters, conflated, bytesOut, connections: this.connections.size, subscriptions: this.index.size, epoch: this.epoch };
  }

  /** Publish the hub's own telemetry (clients may not publish to `$sys`). */
  publishSys(topic: string, data: unknown): Promise<Envelope> {
    return this.broker.publish(topic, JSON.stringify(data));
  }

  /**
   * One page of the topics this hub has seen, sorted by name, with local subscriber counts and
   * rates. Costs O(log n + limit) while no topic comes or goes; the sorted list is rebuilt at
   * most once per change, not per request.
   */
  topics({ prefix = '', after, limit = TOPIC_PAGE_DEFAULT }: TopicQuery = {}): TopicPage {
    this.sortedTopics ??= [...this.topicCounts.keys()].sort();
    const keys = this.sortedTopics;
    const from = after !== undefined && after >= prefix ? after : prefix;
    let i = lowerBound(keys, from);
    if (after !== undefined && keys[i] === after) i++;
    const out: TopicInfo[] = [];
    const max = Math.min(Math.max(1, limit), TOPIC_PAGE_MAX);
    for (; i < keys.length && out.length < max && keys[i].startsWith(prefix); i++) {
      const c = this.topicCounts.get(keys[i])!;
      out.push({ topic: keys[i], subscribers: this.index.match(keys[i]).length, messages: c.messages, rate: this.rateOf(c) });
    }
    const more = i < keys.length && keys[i].startsWith(prefix);
    return more ? { topics: out, total: keys.length, next: out[out.length - 1].topic } : { topics: out, total: keys.length };
  }

  // ---- liveness and shutdown -----------------------------------------------------------------

  /**
   * One timer for all sockets. Each tick visits one slice of the connections, so every connection
   * is pinged once per HEARTBEAT_MS and terminated if it has not answered since its last visit.
   * Slicing spreads the pings and the burst of pongs they trigger, which would otherwise stall
   * delivery to everyone for a moment every HEARTBEAT_MS (an estimated ~20 ms at 1000 sockets here).
   */
  private heartbeat(): void {
    const slot = this.heartbeatTick++ % HEARTBEAT_SLICES;
    for (const conn of this.connections) {
      if (conn.heartbeatSlot !== slot) continue;
      if (!conn.alive) {
        this.log.info({ conn: conn.id }, 'heartbeat missed, terminating');
        conn.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        conn.terminate();
      }
    }
  }

  /** Close every connection with 1001 and stop timers. */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.expiries.clear();
    this.throttleDue.clear();
    this.flusher.flushNow();
    for (const conn of this.connections) conn.close(CloseCode.goingAway, 'hub shutting down');
  }
}

/** Index of the first key >= `key` in sorted `keys`. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Presence checks of HTTP chat posts use this holder id (no connection has it). */
const HTTP_SPEAKER = 'http';

const noop = () => {};

/** `nick: text` for line mode. Controls are escaped even though the chat rule refuses them: history may predate it. */
function renderChatLine(env: Envelope): string {
  const data = (JSON.parse(env.json) as { data: ChatData }).data;
  const nick = escapeControls(String(data.nick));
  const text = escapeControls(String(data.text));
  if (data.kind === 'join' || data.kind === 'leave') return `* ${nick} ${text}`;
  if (data.kind === 'nick') return `* ${nick} (${text})`;
  return `${nick}: ${text}`;
}

/**
 * Cut a page, oldest first, before the message that would take it over `maxBytes` (the first
 * message always goes, so paging on with `since` always advances).
 */
function boundPage(page: HistoryPage, maxBytes: number): HistoryPage & { more: boolean } {
  let bytes = 0;
  for (let i = 0; i < page.messages.length; i++) {
    bytes += Buffer.byteLength(page.messages[i].json);
    if (bytes > maxBytes && i > 0) return { ...page, messages: page.messages.slice(0, i), more: true };
  }
  return { ...page, more: false };
}
